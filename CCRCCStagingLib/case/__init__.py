"""One case: loading and checking inputs, resampling, regions, habitats, features, the case pipeline."""
