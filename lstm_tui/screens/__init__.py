"""The screens: the debugger itself, loading/error, help, and the small dialogs."""
