"""Drawing of the cart-pole swing-up, shared by the Gymnasium env and the native batched env.

`swingup_frame(state, x_threshold, pole_length)` draws one state (x, x_dot, θ, θ_dot) as an RGB array (H, W, 3) uint8:
anti-aliased with pygame when it is installed, else with a plain-NumPy rasteriser that draws the
same shapes (they differ only at anti-aliased edges).
"""
from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["SWINGUP_WIDTH", "SWINGUP_HEIGHT", "swingup_frame", "load_pygame"]

SWINGUP_WIDTH = 600  # pixels
SWINGUP_HEIGHT = 400  # pixels

_TRACK = (0, 0, 0)
_LIMIT = (200, 0, 0)
_CART = (0, 0, 0)
_POLE = (202, 152, 101)
_AXLE = (129, 132, 203)

_pygame: Any = None  # the module once imported, False when unavailable


def load_pygame() -> Any:
    """The pygame module (headless, with gfxdraw), or False when it is not installed."""
    global _pygame
    if _pygame is None:
        # Headless: never open a window, and keep pygame's banner quiet.
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        try:
            import pygame  # noqa: PLC0415  (optional dependency)
            import pygame.gfxdraw  # noqa: F401, PLC0415
        except ImportError:
            _pygame = False
        else:
            _pygame = pygame
    return _pygame


def swingup_frame(
    state: ArrayLike,
    x_threshold: float,
    pole_length: float,
    *,
    width: int = SWINGUP_WIDTH,
    height: int = SWINGUP_HEIGHT,
    use_pygame: bool | None = None,
) -> NDArray[np.uint8]:
    """RGB frame (height, width, 3) uint8 of one swing-up state (4,) = (x [m], x_dot, θ [rad], θ_dot).

    x_threshold [m] (the track limits drawn) and pole_length [m] come from the env's `SwingUpParams`.
    use_pygame: None draws with pygame when it is installed, False always with NumPy.
    """
    g = _geometry(state, x_threshold, pole_length, width, height)
    pg = False if use_pygame is False else load_pygame()
    if use_pygame and not pg:
        raise ImportError("use_pygame=True needs pygame: pip install pygame-ce")
    return _frame_pygame(pg, g, width, height) if pg else _frame_numpy(g, width, height)


def _geometry(state: ArrayLike, x_threshold: float, pole_length: float, w: int, h: int) -> dict[str, float]:
    """Pixel geometry of one state, y axis pointing *up* (flipped once when the frame is done)."""
    # World width chosen so the whole track plus a full-length pole at either end stays in frame.
    scale = w / (2.0 * (x_threshold + pole_length + 0.2))
    x, _, theta, _ = (float(v) for v in np.asarray(state).reshape(4))
    cart_x = x * scale + w / 2.0
    cart_y = h / 2.0
    pole_len = pole_length * scale
    return {
        "cart_x": cart_x,
        "cart_y": cart_y,
        "cart_w": 0.4 * scale,
        "cart_h": 0.2 * scale,
        "pole_w": max(0.05 * scale, 3.0),
        # Tip at (x - l sin θ, l cos θ) in world coordinates: θ = 0 upright.
        "tip_x": cart_x - pole_len * math.sin(theta),
        "tip_y": cart_y + pole_len * math.cos(theta),
        "limit_l": -x_threshold * scale + w / 2.0,
        "limit_r": x_threshold * scale + w / 2.0,
    }


def _frame_numpy(g: dict[str, float], w: int, h: int) -> NDArray[np.uint8]:
    img = np.full((h, w, 3), 255, dtype=np.uint8)
    # Pixel centres in y-up coordinates; the row index is flipped at the end.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5

    track_y = g["cart_y"]
    img[np.abs(yy - track_y) <= 0.5] = _TRACK
    for lx in (g["limit_l"], g["limit_r"]):
        img[(np.abs(xx - lx) <= 0.5) & (np.abs(yy - track_y) <= 10)] = _LIMIT

    cx, cy = g["cart_x"], g["cart_y"]
    img[(np.abs(xx - cx) <= g["cart_w"] / 2.0) & (np.abs(yy - cy) <= g["cart_h"] / 2.0)] = _CART

    # Pole: pixels within pole_w/2 of the pivot->tip segment.
    dx, dy = g["tip_x"] - cx, g["tip_y"] - cy
    seg2 = dx * dx + dy * dy or 1.0
    t = np.clip(((xx - cx) * dx + (yy - cy) * dy) / seg2, 0.0, 1.0)
    dist2 = (xx - cx - t * dx) ** 2 + (yy - cy - t * dy) ** 2
    img[dist2 <= (g["pole_w"] / 2.0) ** 2] = _POLE
    r = max(g["pole_w"] / 2.0, 2.0)
    img[(xx - cx) ** 2 + (yy - cy) ** 2 <= r * r] = _AXLE
    return np.ascontiguousarray(img[::-1])


def _frame_pygame(pygame: Any, g: dict[str, float], w: int, h: int) -> NDArray[np.uint8]:
    gfx = pygame.gfxdraw
    # An off-screen Surface needs no pygame.init(), which would also probe audio.
    surf = pygame.Surface((w, h))
    surf.fill((255, 255, 255))

    track_y = int(g["cart_y"])
    gfx.hline(surf, 0, w, track_y, _TRACK)
    for lx in (g["limit_l"], g["limit_r"]):
        gfx.vline(surf, int(lx), track_y - 10, track_y + 10, _LIMIT)

    cx, cy = g["cart_x"], g["cart_y"]
    hw, hh = g["cart_w"] / 2.0, g["cart_h"] / 2.0
    cart = [(cx - hw, cy - hh), (cx - hw, cy + hh), (cx + hw, cy + hh), (cx + hw, cy - hh)]
    gfx.aapolygon(surf, cart, _CART)
    gfx.filled_polygon(surf, cart, _CART)

    # Pole as a quad of width pole_w around the pivot->tip segment.
    dx, dy = g["tip_x"] - cx, g["tip_y"] - cy
    norm = math.hypot(dx, dy) or 1.0
    nx, ny = -dy / norm * g["pole_w"] / 2.0, dx / norm * g["pole_w"] / 2.0
    pole = [
        (cx + nx, cy + ny),
        (g["tip_x"] + nx, g["tip_y"] + ny),
        (g["tip_x"] - nx, g["tip_y"] - ny),
        (cx - nx, cy - ny),
    ]
    gfx.aapolygon(surf, pole, _POLE)
    gfx.filled_polygon(surf, pole, _POLE)
    r = max(int(g["pole_w"] / 2.0), 2)
    gfx.aacircle(surf, int(cx), int(cy), r, _AXLE)
    gfx.filled_circle(surf, int(cx), int(cy), r, _AXLE)

    surf = pygame.transform.flip(surf, False, True)
    # surfarray is (W, H, 3); transpose to the usual (H, W, 3).
    return np.ascontiguousarray(np.transpose(pygame.surfarray.pixels3d(surf), (1, 0, 2)), dtype=np.uint8)
