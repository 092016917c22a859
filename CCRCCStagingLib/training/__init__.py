"""Cohorts: manifest, cohort extraction, selection, classifiers, metrics, survival, train/evaluate."""
