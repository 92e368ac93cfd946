"""Reports over several domains: the clinic stats (SPEC §6) read appointments, the
catalogue and payments, so they live above scheduling and payments."""
