"""The questions of the flowchart, in the words the assistant uses.

Ids are a public contract (answers files, the API, scripts): never rename one.
"""

from rules.schema import HISTORY, Question

QUESTIONS: tuple[Question, ...] = (
    Question(
        id="train_loss_large",
        text="Is the loss on your TRAINING data large?",
        help=(
            "Always look at the training loss first: not every bad test result is overfitting. "
            "'Large' means large compared with something: a model that predicts the mean (regression) "
            "or uniform class probabilities (ln C for C classes), an easy-to-optimize model such as "
            "linear or logistic regression, or the loss that would be good enough for you."
        ),
        measured_by=("baselines", HISTORY),
        lecture="General Guidance: loss on training data",
    ),
    Question(
        id="deeper_model_worse",
        text="Does a DEEPER variant of your model reach a HIGHER training loss than a shallower one?",
        help=(
            "This tells model bias from an optimization issue. A deeper network can copy a shallower "
            "one and make its extra layers the identity, so if it were optimized well it could never "
            "be worse on the training data. If it IS worse, gradient descent is failing (optimization "
            "issue). If it is equal or better but the loss is still large, the model is too simple "
            "(model bias). Example from the lecture: 1-4 layers reach 0.28k, 0.18k, 0.14k, 0.10k; "
            "5 layers reach 0.34k: optimization issue."
        ),
        measured_by=("depth",),
        lecture="General Guidance: model bias vs optimization issue",
    ),
    Question(
        id="simple_model_better",
        text="Does an easy-to-optimize model (linear or logistic regression) reach a LOWER training loss than yours?",
        help=(
            "If a linear model fits the training data better than your network, your network could "
            "represent that function (it is in its function set) but optimization does not find it."
        ),
        measured_by=("depth",),
        asked=False,
        lecture="General Guidance: compare with easy-to-optimize models",
    ),
    Question(
        id="gradient_norm_small",
        text="Where training stopped, is the gradient norm close to zero?",
        help=(
            "When the loss stops falling, people often guess 'the gradient is zero'. Check it: a point "
            "with zero gradient is a critical point (a local minimum or a saddle point). Often the "
            "loss plateaus while the gradient is still large: the parameters bounce between the walls "
            "of a narrow valley. The homework convention counts a norm below 1e-3 as zero."
        ),
        measured_by=("curvature",),
        lecture="When gradient is small: critical points",
    ),
    Question(
        id="hessian_negative_eigenvalue",
        text="At that point, does the Hessian of the loss have a clearly negative eigenvalue?",
        help=(
            "Near a critical point the loss is a quadratic form of the Hessian H. All eigenvalues "
            "positive: a local minimum. Some negative: a saddle point, which you can escape by moving "
            "along the eigenvector of a negative eigenvalue. This needs the true Hessian; a "
            "Gauss-Newton approximation can never show a negative eigenvalue."
        ),
        measured_by=("curvature",),
        lecture="When gradient is small: Hessian, saddle point vs local minimum",
    ),
    Question(
        id="learning_rate_exceeds_stability",
        text="Is the learning rate above 2 / lambda_max, the largest stable step for the sharpest direction?",
        help=(
            "Plain gradient descent is unstable along a direction whose curvature exceeds 2 / learning "
            "rate: the loss oscillates or diverges there."
        ),
        measured_by=("learning_rate", "curvature", HISTORY),
        asked=False,
        lecture="Adaptive learning rate: training stuck is not small gradient",
    ),
    Question(
        id="loss_diverged",
        text="Did the training loss diverge (blow up or turn NaN)?",
        help="A loss that grows without bound or becomes NaN means the updates are unstable.",
        measured_by=(HISTORY, "learning_rate"),
        asked=False,
        lecture="Adaptive learning rate",
    ),
    Question(
        id="test_loss_large",
        text="Is the loss on your TEST data large?",
        help=(
            "Your training loss is fine, so now look at data the model never trained on. If the test "
            "loss is small too, you are done."
        ),
        measured_by=("generalization", HISTORY),
        lecture="General Guidance: loss on testing data",
    ),
    Question(
        id="val_loss_large",
        text="Is the loss on a VALIDATION split held out from your TRAINING data large?",
        help=(
            "This tells overfitting from mismatch. A validation split drawn from the training data "
            "comes from the same distribution. If it is bad too, the model memorised the training "
            "data (overfitting). If it is fine but the test set is bad, training and test data come "
            "from different distributions (mismatch), and more training data will not help."
        ),
        measured_by=("generalization", HISTORY),
        lecture="General Guidance: overfitting vs mismatch",
    ),
    Question(
        id="test_set_available",
        text="Is there a TEST set (data held out apart from the training data and its validation split)?",
        help=(
            "Only a test set can show mismatch (validation fine, test bad). Without one, a bad "
            "validation split still shows overfitting, and a fine one shows the model generalises "
            "within the training distribution, but not whether it works on data produced differently. "
            "Answered by the history reader (no test curve) and the generalization probe (no test data)."
        ),
        measured_by=("generalization", HISTORY),
        asked=False,
        lecture="General Guidance: overfitting vs mismatch",
    ),
)

# The lecture's order of the questions (the flowchart read top to bottom): claims, asked questions and
# evidence are listed in it.
QUESTION_ORDER: tuple[str, ...] = tuple(q.id for q in QUESTIONS)


def answered_by(source: str) -> tuple[str, ...]:
    """The ids of the questions a probe (or HISTORY, the history reader) can answer, in order."""
    return tuple(q.id for q in QUESTIONS if source in q.measured_by)
