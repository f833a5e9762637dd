"""Online drift: the frozen baseline and its Redis hash codec, the ``/stats`` drift figures,
the monitor that updates the CUSUM with every record, baseline administration and the Lua
scripts. The math (CUSUM, strata, designs) is ``audits.science.drift``."""
