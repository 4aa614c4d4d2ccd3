"""Reading and writing the files people have, one module per job.

Each module turns one kind of file into the core's terms (an LSTMSpec, a Model) or back;
torch and onnx are imported inside the modules that need them, never by the package.
"""
