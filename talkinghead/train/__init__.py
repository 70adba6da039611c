"""Training of the models we own (the motion DiT)."""
