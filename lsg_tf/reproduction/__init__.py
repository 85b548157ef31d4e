"""The paper's tables at a budget: the experiments (budgets, variants, flagfiles), the stages
that train and analyse them, the command lines they record, and the results page."""
