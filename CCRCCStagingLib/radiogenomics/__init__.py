"""Radiogenomics: expression tables, WGCNA, the dynamic tree cut, enrichment."""
