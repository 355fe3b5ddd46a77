"""The flowchart of Hung-yi Lee's "General Guidance" lecture, as rules.

Read each rule as: WHEN these answers (or findings) hold, THEN ask a question or conclude a finding.
A question is on the path once a rule asks it; it stays pending until it is answered yes or no
("unsure" keeps it pending and names the probe that can settle it).
"""

from rules.schema import Ask, Conclude, Rule, answer, finding

RULES: tuple[Rule, ...] = (
    # -- 1. Training loss first ---------------------------------------------------------------
    Rule(
        "start_with_training_loss",
        when=(),
        then=Ask("train_loss_large"),
        says="Every diagnosis starts with the training loss: not every bad test result is overfitting.",
    ),
    # -- 2a. Training loss large: model bias or optimization? ---------------------------------
    Rule(
        "large_training_loss_compare_depths",
        when=(answer("train_loss_large") == "yes",),
        then=Ask("deeper_model_worse"),
        says="The training loss is large: compare a deeper and a shallower model to tell model bias from an optimization issue.",
    ),
    Rule(
        "deeper_worse_means_optimization",
        when=(answer("train_loss_large") == "yes", answer("deeper_model_worse") == "yes"),
        then=Conclude("optimization_issue"),
        says="A deeper model could copy the shallower one, so it can only train worse if optimization fails.",
    ),
    Rule(
        "simple_model_better_means_optimization",
        when=(answer("train_loss_large") == "yes", answer("simple_model_better") == "yes"),
        then=Conclude("optimization_issue"),
        says="An easy-to-optimize model fits the training data better, so a better function is within reach and training misses it.",
    ),
    Rule(
        "deeper_not_worse_means_model_bias",
        when=(
            answer("train_loss_large") == "yes",
            answer("deeper_model_worse") == "no",
            answer("simple_model_better") != "yes",
        ),
        then=Conclude("model_bias"),
        says="Going deeper does not make training worse and the loss is still large, so the function set is too small.",
    ),
    # -- 2b. Optimization issue: where is training stuck? -------------------------------------
    Rule(
        "optimization_check_gradient",
        when=(finding("optimization_issue"),),
        then=Ask("gradient_norm_small"),
        says="Training is stuck: check whether the gradient is really (close to) zero there.",
    ),
    Rule(
        "large_gradient_not_critical",
        when=(finding("optimization_issue"), answer("gradient_norm_small") == "no"),
        then=Conclude("not_at_critical_point"),
        says="The gradient is not small, so this is not a critical point: the loss plateaus for another reason.",
    ),
    Rule(
        "small_gradient_check_hessian",
        when=(finding("optimization_issue"), answer("gradient_norm_small") == "yes"),
        then=Ask("hessian_negative_eigenvalue"),
        says="The gradient is close to zero: a critical point. The Hessian's eigenvalues tell a saddle from a local minimum.",
    ),
    Rule(
        "negative_curvature_is_saddle",
        when=(
            finding("optimization_issue"),
            answer("gradient_norm_small") == "yes",
            answer("hessian_negative_eigenvalue") == "yes",
        ),
        then=Conclude("saddle_point"),
        says="Zero gradient and a negative eigenvalue: the loss falls along that eigenvector, so it is a saddle point.",
    ),
    Rule(
        "no_negative_curvature_is_minimum",
        when=(
            finding("optimization_issue"),
            answer("gradient_norm_small") == "yes",
            answer("hessian_negative_eigenvalue") == "no",
        ),
        then=Conclude("local_minimum"),
        says="Zero gradient and no negative eigenvalue: the loss curves up in every direction measured, like a local minimum.",
    ),
    # -- Measurements that raise warnings on any path -----------------------------------------
    Rule(
        "step_above_stability_limit",
        when=(answer("learning_rate_exceeds_stability") == "yes",),
        then=Conclude("learning_rate_too_high"),
        says="The learning rate exceeds 2 / lambda_max, so gradient descent overshoots along the sharpest direction.",
    ),
    Rule(
        "loss_blew_up",
        when=(answer("loss_diverged") == "yes",),
        then=Conclude("diverged"),
        says="The training loss blew up or turned NaN, so the updates are unstable.",
    ),
    # -- 3. Training loss fine: look at the test loss ------------------------------------------
    Rule(
        "small_training_loss_check_test",
        when=(answer("train_loss_large") == "no",),
        then=Ask("test_loss_large"),
        says="The training loss is fine, so look at the loss on data the model never trained on.",
    ),
    Rule(
        "both_small_is_healthy",
        when=(answer("train_loss_large") == "no", answer("test_loss_large") == "no"),
        then=Conclude("healthy"),
        says="Training and test losses are both small: nothing in the flowchart is left to fix.",
    ),
    Rule(
        "test_large_check_validation",
        when=(answer("train_loss_large") == "no", answer("test_loss_large") == "yes"),
        then=Ask("val_loss_large"),
        says="Training fine, test bad: a validation split from the training data tells overfitting from mismatch.",
    ),
    Rule(
        "validation_bad_is_overfitting",
        when=(
            answer("train_loss_large") == "no",
            answer("test_loss_large") == "yes",
            answer("val_loss_large") == "yes",
        ),
        then=Conclude("overfitting"),
        says="Unseen data from the training distribution is bad too, so the model memorised its training data.",
    ),
    Rule(
        "validation_fine_is_mismatch",
        when=(
            answer("train_loss_large") == "no",
            answer("test_loss_large") == "yes",
            answer("val_loss_large") == "no",
        ),
        then=Conclude("mismatch"),
        says="Unseen data from the training distribution is fine but the test data is not, so the distributions differ.",
    ),
)
