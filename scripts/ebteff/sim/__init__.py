"""The simulated sky: the workflow's offline default catalogue.

:mod:`ebteff.sim.simulate` draws the binaries, observes them and writes the tables;
:mod:`ebteff.sim.stellar` turns one star's parameters into magnitudes.
"""
