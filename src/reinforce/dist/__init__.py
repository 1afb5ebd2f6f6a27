"""Data-parallel training under torchrun: the process group, the job-wide reducer and the launcher."""
