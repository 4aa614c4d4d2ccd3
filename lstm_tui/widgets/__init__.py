"""The debugger's widgets, one per module; each draws what the screen binds into it."""
