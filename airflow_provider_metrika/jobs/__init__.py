"""The vendor-neutral import-job kernel: job records, the one wait step, the shared poller, the base trigger,
and the sending side (inputs, the journal, fingerprints, the current-try claim, rejected rows).

Every vendor (Yandex Metrika, Commerce Layer, Fleetio) maps its jobs onto :mod:`.record`, waits through
:mod:`.waiting`, polls through :mod:`.poller` and defers through :mod:`.trigger`. Nothing in this package
imports a vendor module.
"""
