"""What each command does: compute (case, training, radiogenomics), then render (reports)."""
