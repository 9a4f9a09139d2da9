"""What people read: text, plain and live progress, JSON lines, exports."""
