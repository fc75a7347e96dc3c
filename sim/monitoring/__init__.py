"""Monitoring with thresholds: a monitoring file (:mod:`sim.monitoring.spec`) and the observer
that evaluates it as a run goes (:mod:`sim.monitoring.observer`); docs/monitoring.md."""

from sim.monitoring.observer import MonitoringObserver
from sim.monitoring.spec import (
    DEFAULT_MONITORING,
    KPI_CATALOGUE,
    Monitoring,
    MonitoringError,
    Rule,
    default_monitoring,
    load_monitoring,
)

__all__ = [
    "DEFAULT_MONITORING",
    "KPI_CATALOGUE",
    "Monitoring",
    "MonitoringError",
    "MonitoringObserver",
    "Rule",
    "default_monitoring",
    "load_monitoring",
]
