"""Pipeline steps: one module per step, each a plain function of the step context.

The order lives in :mod:`intake.pipeline`, and nowhere else.
"""
