"""Files: volumes and segmentations in, label volumes out, model files, atomic writes, resumable run folders."""
