"""The compliance engine: policy packs, the pure contact rules, and audit replay of contact logs."""
