"""Reading a stages file into a Pipeline, naming the file, line and stage of every problem."""
