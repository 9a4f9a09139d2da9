"""Every file of a state: state.yml, its journal, lock, owner, history, durations and logs,
written so that a crash never tears them."""
