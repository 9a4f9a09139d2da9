"""The core: what a pipeline, a plan, a status, an event, a reporter and a result are.

Imports nothing of dagrun's but its errors."""
