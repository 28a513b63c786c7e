"""The vendor-neutral import-job kernel: job records, the one wait step, the shared poller, the base trigger.

Every vendor (Yandex Metrika, Commerce Layer, Fleetio) maps its jobs onto :mod:`.record`, waits through
:mod:`.waiting`, polls through :mod:`.poller` and defers through :mod:`.trigger`. Nothing in this package
imports a vendor module.
"""
