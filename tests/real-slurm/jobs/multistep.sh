#!/bin/bash
# Two job steps (.0 with one task, .1 with two) besides .batch and .extern.
#SBATCH --ntasks=2
#SBATCH --mem=256M
srun --ntasks=1 sleep 2
srun --ntasks=2 sleep 2
