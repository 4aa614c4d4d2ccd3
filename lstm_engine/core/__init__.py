"""The engine's core: the LSTM's math and its recordings, with no file format and no model.

spec (weights per layer and direction), activations, cell (one timestep), quantities
(every per-unit quantity, defined once), recorder (a run, from step 0 or from a state),
trace (an immutable recording and its file) and session (a cursor over one trace).
Nothing here imports from `lstm_engine.formats` or the model pipeline; a test enforces it.
"""
