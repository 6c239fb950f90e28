"""The sync engine: releases fanned out into per-(account, slot) tasks, and their life."""
