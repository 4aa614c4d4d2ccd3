"""The engine's core: the LSTM's math and its recordings, with no file format and no model.

spec (weights per layer and direction, how each direction reads), activations, cell (one
timestep, with an override point for edits), quantities (every per-unit quantity, defined
once), edits (what-if interventions as plain data), recorder (a run from step 0, or a
branch re-run from an edited state), trace (an immutable recording, its lineage and its
file), session (a cursor over one trace), watch (the watch-expression language, evaluated
over a whole trace at once), edit_syntax (edits as text: `c[11] = 0 at 6`), diff (two traces
compared per step, unit and quantity, and where they first diverge), provenance (which
earlier step wrote what c_t holds), unit_stats (per-unit saturation, variance and
rankings), backward (gradients through a recorded trace), output (what a model's per-step
output means: probabilities), and the guards every file goes through
(files: bounded reads and safe writes; limits; readonly: arrays nobody can write).
Nothing here imports from `lstm_engine.formats` or the model pipeline; a test enforces it.
"""
