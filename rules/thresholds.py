"""When is a loss "large"? One answer, used by every part that judges it (probes, history, TUI).

A loss is judged as a fraction of the trivial predictor's loss on the same data (predict the mean:
the target variance for squared error; predict the class priors: their entropy, ln C when balanced).
"""

# At least half of the trivial loss left: the model explains less than half of the target's variance
# (R^2 < 0.5), or removes less than half of the class-prior entropy. Large by itself.
LOSS_LARGE_FRACTION = 0.5
# At most a fifth left (R^2 >= 0.8): small by itself. In between, only the user's own target, or an
# easy model that does better, can tell; the answer is "unsure" and the question stays open.
LOSS_SMALL_FRACTION = 0.2
