#!/bin/bash
# A heterogeneous job: component 0 (1 task, 200M), component 1 (1 task, 300M, one GPU); one step
# spans both components (it appears as <id>+0.0 and <id>+1.0).
#SBATCH --ntasks=1
#SBATCH --mem=200M
#SBATCH hetjob
#SBATCH --ntasks=1
#SBATCH --mem=300M
#SBATCH --gres=gpu:1
srun --het-group=0,1 sleep 2
