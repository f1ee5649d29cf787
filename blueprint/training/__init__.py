"""Training: seeding, compiling and fitting a model from config."""
