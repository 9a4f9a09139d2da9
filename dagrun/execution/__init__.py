"""Running a plan: the scheduler, signals, stage output at the descriptor level, and the executors."""
