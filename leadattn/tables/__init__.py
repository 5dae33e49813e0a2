"""The challenge's tables, shipped with the package: scored classes, the reward weights, unscored codes."""
