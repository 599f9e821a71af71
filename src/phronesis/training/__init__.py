"""Training: the one module that imports TRL (trl_adapter), our PPO loop, rewards for RL, where policy stages
get their data and starting model, and the choice of a checkpoint on the validation split."""
