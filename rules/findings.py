"""The flowchart's conclusions: what each one means and what to try.

Ids are a public contract: never rename one. Remedies follow the lecture (Hung-yi Lee, ML 2021).
"""

from rules.schema import FindingDefinition

FINDINGS: tuple[FindingDefinition, ...] = (
    FindingDefinition(
        id="model_bias",
        title="Model bias: the model is too simple",
        explanation=(
            "The training loss is large, and a deeper model does not train worse than a shallower one. "
            "Gradient descent is doing its job, so the problem is the function set itself: even the "
            "best function your model can represent does not fit the data. Like looking for a needle "
            "in a haystack that has no needle in it."
        ),
        remedies=(
            "Redesign the model to be more flexible: more neurons per layer or more layers.",
            "Give it more input features (e.g. use more days of history, not just the last one).",
            "Try a more expressive architecture for the data (e.g. a CNN for images).",
            "Grow the model step by step and stop when the training loss stops falling.",
        ),
        confirmed_by=("depth", "baselines"),
        lecture="General Guidance: model bias",
    ),
    FindingDefinition(
        id="optimization_issue",
        title="Optimization issue: the model could fit better, but training does not find it",
        explanation=(
            "The training loss is large, yet a deeper model (or an easy-to-optimize model) reaches a "
            "LOWER training loss than yours can. A deeper model contains the shallower one, so it "
            "could never be worse if it were optimized well: the good function is in your function "
            "set and gradient descent does not reach it. This is not overfitting and not model bias "
            "(the ResNet paper's 56-layer plain network trains worse than its 20-layer one)."
        ),
        remedies=(
            "Start from the shallower model that trains well, and go deeper only while training loss falls.",
            "Find out where training gets stuck: measure the gradient norm and the Hessian there.",
            "Use an adaptive optimizer (Adam, RMSProp) and momentum.",
            "Add normalization (batch normalization smooths the error surface) or residual connections.",
            "For classification, use softmax + cross-entropy rather than mean squared error.",
        ),
        confirmed_by=("depth", "curvature"),
        lecture="General Guidance: optimization issue",
    ),
    FindingDefinition(
        id="saddle_point",
        title="Stuck at a saddle point",
        explanation=(
            "Training stopped where the gradient is (close to) zero, and the true Hessian there has a "
            "clearly negative eigenvalue: the surface curves down along some direction. That is a "
            "saddle point, not a local minimum, and it can be escaped: moving along the eigenvector "
            "of a negative eigenvalue lowers the loss. In high dimensions most critical points that "
            "training reaches are saddles."
        ),
        remedies=(
            "Use momentum: like a ball rolling downhill it carries the parameters past saddle points.",
            "Use smaller batches: noisy gradients rarely stay at a critical point of every batch.",
            "Use an adaptive optimizer (Adam) and a learning-rate schedule with warm-up.",
            "Step along the negative-curvature direction the probe reports (escape direction).",
        ),
        confirmed_by=("curvature",),
        lecture="When gradient is small: saddle point",
    ),
    FindingDefinition(
        id="local_minimum",
        title="At a local-minimum-like point",
        explanation=(
            "Training stopped where the gradient is (close to) zero and the Hessian shows no clearly "
            "negative eigenvalue: in every direction measured, the loss curves up. This looks like a "
            "local minimum. True local minima are rare in high dimensions, so also check the "
            "minimum ratio (the share of positive eigenvalues) the probe reports."
        ),
        remedies=(
            "Restart from other initializations or seeds and compare the final training loss.",
            "Use momentum and smaller batches, which escape shallow minima.",
            "Make the model wider or use residual connections, which make the surface easier.",
            "If the loss is still large at a true minimum of a bigger model, revisit model bias.",
        ),
        confirmed_by=("curvature",),
        lecture="When gradient is small: local minimum",
    ),
    FindingDefinition(
        id="not_at_critical_point",
        title="Stuck, but not at a critical point: the gradient is still large",
        explanation=(
            "The loss stopped falling, yet the gradient norm is not small: training is not at a local "
            "minimum or saddle point. Most likely the parameters bounce between the walls of a narrow "
            "valley: the learning rate is too large for the steep direction and too small for the "
            "flat one. 'Training stuck' is not the same as 'small gradient'."
        ),
        remedies=(
            "Use an adaptive learning rate per parameter: Adagrad, RMSProp, or Adam (RMSProp + momentum).",
            "Use a learning-rate schedule: decay, and warm-up at the start.",
            "Lower the learning rate if the loss oscillates.",
            "Normalize inputs and add batch normalization so the surface is less elongated.",
        ),
        confirmed_by=("curvature",),
        lecture="Adaptive learning rate: training stuck is not small gradient",
    ),
    FindingDefinition(
        id="learning_rate_too_high",
        title="The learning rate is above the stability limit",
        explanation=(
            "Plain gradient descent is unstable along a direction whose curvature lambda exceeds "
            "2 / learning rate. The measured sharpest curvature lambda_max puts the limit below your "
            "learning rate, so along that direction every step overshoots: the loss oscillates or "
            "diverges."
        ),
        remedies=(
            "Lower the learning rate below 2 / lambda_max (the probe reports the number).",
            "Use warm-up, or an adaptive optimizer (Adam, RMSProp) that scales steps by curvature.",
            "Clip gradients to stop single steps from blowing up.",
        ),
        confirmed_by=("curvature",),
        kind="warning",
        lecture="Adaptive learning rate (a classical stability check, not from the lecture)",
    ),
    FindingDefinition(
        id="diverged",
        title="Training diverged",
        explanation=(
            "The training loss blew up or turned NaN. The updates are unstable: the learning rate is "
            "too large for the surface, or the data or loss produce infinite values."
        ),
        remedies=(
            "Lower the learning rate (try 3-10x smaller) and add warm-up.",
            "Clip gradients (e.g. max norm 1.0).",
            "Check the data for NaN or infinite values and the loss for log(0) or division by zero.",
            "With mixed precision, use a loss scaler or bfloat16.",
        ),
        confirmed_by=("history",),
        kind="warning",
        lecture="Adaptive learning rate",
    ),
    FindingDefinition(
        id="overfitting",
        title="Overfitting: the model memorised the training data",
        explanation=(
            "The training loss is small but a validation split held out FROM THE TRAINING DATA is "
            "bad (and the test loss, if you have a test set, is large too). Same distribution, yet "
            "unseen examples fail: the model is flexible enough to fit the training points and does "
            "whatever it likes between them. A test set is not needed to see this: it is only needed "
            "to tell mismatch (validation fine, test bad)."
        ),
        remedies=(
            "Get more training data (the most effective remedy).",
            "Data augmentation that makes sense for the data (flip a photo left-right, never upside-down).",
            "Constrain the model: fewer parameters, or shared parameters (a CNN is a constrained fully-connected net).",
            "Use fewer features.",
            "Early stopping: keep the model from the epoch with the best validation loss.",
            "Regularization (weight decay).",
            "Dropout.",
            "Do not over-constrain: too much constraint sends you back to model bias.",
            "Pick models on the validation split (or N-fold cross validation), never on the test set.",
        ),
        confirmed_by=("generalization", "history"),
        lecture="General Guidance: overfitting",
    ),
    FindingDefinition(
        id="mismatch",
        title="Mismatch: training and test data come from different distributions",
        explanation=(
            "The training loss is small and a validation split from the training data is fine too, "
            "but the test loss is large. The model generalises within the training distribution; the "
            "test data are different (another time period, source or sensor). More training data of "
            "the same kind will not help."
        ),
        remedies=(
            "Find out how the training and test data were produced, and where they differ.",
            "Collect training data that looks like the test data.",
            "Weight or select training examples that resemble the test set (domain adaptation).",
            "Do not treat it as overfitting: regularization will not fix a shifted distribution.",
        ),
        confirmed_by=("generalization",),
        lecture="General Guidance: mismatch",
    ),
    FindingDefinition(
        id="healthy",
        title="Training looks healthy",
        explanation=(
            "The training loss is small and the test loss is small too. There is nothing in the "
            "flowchart left to fix."
        ),
        remedies=(
            "Keep the model you selected on the validation split; retrain it on all the training data.",
            "If you still want better results, try a bigger model and regularize it.",
        ),
        confirmed_by=("baselines", "generalization"),
        kind="done",
        lecture="General Guidance: done",
    ),
    FindingDefinition(
        id="healthy_without_test",
        title="Healthy as far as held-out data shows (no test set to check mismatch)",
        explanation=(
            "The training loss is small and a validation split held out from the training data is "
            "fine: the model generalises within the training distribution, so it is not overfitting. "
            "There is no test set, so mismatch cannot be checked: if the data the model will meet "
            "come from another time period, source or sensor, this report cannot tell whether it "
            "works there."
        ),
        remedies=(
            "Keep the model you selected on the validation split; retrain it on all the training data.",
            "Before relying on it, evaluate it on a test set drawn the way the real data will be "
            "(another period, source or sensor): that is the only way to see mismatch.",
        ),
        confirmed_by=("generalization", "history"),
        kind="done",
        lecture="General Guidance: overfitting vs mismatch (validation split)",
    ),
)
