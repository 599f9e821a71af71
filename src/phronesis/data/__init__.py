"""Data: prompt sets (builtin:, wheel:, files, hh-rlhf), models from pinned wheels, the constitution and its
twin, the artifact row shapes, train/test disjointness, model references. Imports only core."""
