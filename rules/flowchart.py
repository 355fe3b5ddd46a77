"""The flowchart of Hung-yi Lee's "General Guidance" lecture, as rules.

Read each rule as: WHEN these answers (or findings) hold, THEN ask a question or conclude a finding.
A question is on the path once a rule asks it; it stays pending until it is answered yes or no
("unsure" keeps it pending and names the probe that can settle it).

Several rules may conclude the same finding (two kinds of evidence for one diagnosis); the report
names every one of them. The rules are monotone: nothing tests that a finding was NOT reached, so
the order rules fire in never changes what is concluded.
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
        "unstable_step_means_optimization",
        when=(answer("train_loss_large") == "yes", answer("learning_rate_exceeds_stability") == "yes"),
        then=Conclude("optimization_issue"),
        says="The learning rate exceeds 2 / lambda_max, so gradient descent cannot settle into a minimum: the large loss comes from the step size, not from the function set.",
    ),
    Rule(
        "deeper_not_worse_means_model_bias",
        when=(
            answer("train_loss_large") == "yes",
            answer("deeper_model_worse") == "no",
            answer("simple_model_better") != "yes",
            answer("learning_rate_exceeds_stability") != "yes",
        ),
        then=Conclude("model_bias"),
        says="Going deeper does not make training worse and the loss is still large, so the function set is too small.",
    ),
    # -- 2a'. Depth cannot decide: the curvature where training stopped can -------------------
    Rule(
        "depth_undecided_check_gradient",
        when=(answer("train_loss_large") == "yes", answer("deeper_model_worse") == "unsure"),
        then=Ask("gradient_norm_small"),
        says="The depth comparison cannot decide: look at where training stopped instead. A critical point with a downhill direction shows a lower loss is reachable with the same model.",
    ),
    Rule(
        "depth_undecided_check_hessian",
        when=(
            answer("train_loss_large") == "yes",
            answer("deeper_model_worse") == "unsure",
            answer("gradient_norm_small") == "yes",
        ),
        then=Ask("hessian_negative_eigenvalue"),
        says="The gradient is close to zero: a clearly negative Hessian eigenvalue would show a direction in which the loss still falls.",
    ),
    Rule(
        "negative_curvature_means_optimization",
        when=(
            answer("train_loss_large") == "yes",
            answer("deeper_model_worse") == "unsure",
            answer("gradient_norm_small") == "yes",
            answer("hessian_negative_eigenvalue") == "yes",
        ),
        then=Conclude("optimization_issue"),
        says="Training stopped at a critical point where the loss still falls along an eigenvector of a negative eigenvalue: the same model can reach a lower loss, so optimization, not the function set, is what fails.",
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
    # -- The learning rate: measured whenever training diverged or bounced ---------------------
    Rule(
        "large_gradient_check_learning_rate",
        when=(finding("not_at_critical_point"),),
        then=Ask("learning_rate_exceeds_stability"),
        says="Stuck with a large gradient: the parameters may bounce across a narrow valley. Compare the learning rate with 2 / lambda_max, the largest stable step along the sharpest direction.",
    ),
    Rule(
        "divergence_check_learning_rate",
        when=(answer("loss_diverged") == "yes",),
        then=Ask("learning_rate_exceeds_stability"),
        says="The loss blew up: check whether the learning rate exceeds 2 / lambda_max, the classical cause.",
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
    # -- 3. Training loss fine: look at held-out data -----------------------------------------
    Rule(
        "small_training_loss_check_test",
        when=(answer("train_loss_large") == "no", answer("test_set_available") != "no"),
        then=Ask("test_loss_large"),
        says="The training loss is fine, so look at the loss on data the model never trained on.",
    ),
    Rule(
        "both_small_is_healthy",
        when=(
            answer("train_loss_large") == "no",
            answer("test_set_available") != "no",
            answer("test_loss_large") == "no",
        ),
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
        "test_undecided_check_validation",
        when=(answer("train_loss_large") == "no", answer("test_loss_large") == "unsure"),
        then=Ask("val_loss_large"),
        says="The test loss cannot be judged, but a validation split from the training data can still show overfitting.",
    ),
    Rule(
        "no_test_set_check_validation",
        when=(answer("train_loss_large") == "no", answer("test_set_available") == "no"),
        then=Ask("val_loss_large"),
        says="There is no test set: a validation split from the training data is the held-out data there is.",
    ),
    Rule(
        "validation_bad_is_overfitting",
        when=(
            answer("train_loss_large") == "no",
            answer("test_loss_large") != "no",
            answer("val_loss_large") == "yes",
        ),
        then=Conclude("overfitting"),
        says="Unseen data from the training distribution is bad, so the model memorised its training data. A test set is not needed for this: it only tells mismatch.",
    ),
    Rule(
        "validation_fine_is_mismatch",
        when=(
            answer("train_loss_large") == "no",
            answer("test_set_available") != "no",
            answer("test_loss_large") == "yes",
            answer("val_loss_large") == "no",
        ),
        then=Conclude("mismatch"),
        says="Unseen data from the training distribution is fine but the test data is not, so the distributions differ.",
    ),
    Rule(
        "validation_fine_without_test_is_healthy_so_far",
        when=(
            answer("train_loss_large") == "no",
            answer("test_set_available") == "no",
            answer("val_loss_large") == "no",
        ),
        then=Conclude("healthy_without_test"),
        says="Training and validation losses are both small: no overfitting. Without a test set, mismatch cannot be checked.",
    ),
)
