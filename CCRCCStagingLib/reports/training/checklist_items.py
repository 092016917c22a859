"""The items of the two reporting checklists a journal asks a radiomics prediction-model paper for, as published:

- TRIPOD+AI: Collins GS, Moons KGM, Dhiman P, et al. TRIPOD+AI statement: updated guidance for reporting clinical
  prediction models that use regression or machine learning methods. BMJ 2024;385:e078378.
  doi:10.1136/bmj-2023-078378 — its Table 1: 27 items, 52 with their parts (1, 2, 3a-3c, …, 27a-27c), each with the
  study types it applies to (D development, E evaluation). Wording as published (CC BY 4.0).
- CLEAR: Kocak B, Baessler B, Bakas S, et al. CheckList for EvaluAtion of Radiomics research (CLEAR): a step-by-step
  reporting guideline for authors and reviewers endorsed by ESR and EuSoMII. Insights Imaging 2023;14:75.
  doi:10.1186/s13244-023-01415-8 — its 58 items by section, as the checklist form names them (CLEAR v1.0,
  clearchecklist.github.io; CC BY 4.0).

Data only; :mod:`.checklist` fills them from a run.
"""

from __future__ import annotations

from typing import NamedTuple

TRIPOD_AI_REFERENCE = (
    "Collins GS, Moons KGM, Dhiman P, et al. TRIPOD+AI statement: updated guidance for reporting clinical prediction "
    "models that use regression or machine learning methods. BMJ 2024;385:e078378. doi:10.1136/bmj-2023-078378"
)
CLEAR_REFERENCE = (
    "Kocak B, Baessler B, Bakas S, et al. CheckList for EvaluAtion of Radiomics research (CLEAR): a step-by-step "
    "reporting guideline for authors and reviewers endorsed by ESR and EuSoMII. Insights Imaging 2023;14:75. "
    "doi:10.1186/s13244-023-01415-8"
)


class TripodItem(NamedTuple):
    number: str
    section: str
    topic: str
    applies_to: str  # "D" development, "E" evaluation, "D;E" both
    text: str


class ClearItem(NamedTuple):
    number: str
    section: str
    item: str


def _rows(text: str) -> list[list[str]]:
    """The rows of a table written as text: one item a line, cells separated by " | ", an indented line continuing
    the one before (so that the published wording keeps to the line length)."""
    rows: list[str] = []
    for line in text.strip().splitlines():
        if line.startswith(" ") and rows:
            rows[-1] += " " + line.strip()
        else:
            rows.append(line)
    return [[cell.strip() for cell in row.split(" | ")] for row in rows]


# Item | section | topic | applies to | requirement, as in the statement's Table 1.
TRIPOD_AI_ITEMS: tuple[TripodItem, ...] = tuple(TripodItem(*cells) for cells in _rows("""
1 | Title | Title | D;E | Identify the study as developing or evaluating the performance of a multivariable
    prediction model, the target population, and the outcome to be predicted
2 | Abstract | Abstract | D;E | See TRIPOD+AI for Abstracts checklist
3a | Introduction | Background | D;E | Explain the healthcare context (including whether diagnostic or prognostic)
    and rationale for developing or evaluating the prediction model, including references to existing models
3b | Introduction | Background | D;E | Describe the target population and the intended purpose of the prediction
    model in the context of the care pathway, including its intended users (eg, healthcare professionals, patients,
    public)
3c | Introduction | Background | D;E | Describe any known health inequalities between sociodemographic groups
4 | Introduction | Objectives | D;E | Specify the study objectives, including whether the study describes the
    development or validation of a prediction model (or both)
5a | Methods | Data | D;E | Describe the sources of data separately for the development and evaluation datasets (eg,
    randomised trial, cohort, routine care or registry data), the rationale for using these data, and
    representativeness of the data
5b | Methods | Data | D;E | Specify the dates of the collected participant data, including start and end of
    participant accrual; and, if applicable, end of follow-up
6a | Methods | Participants | D;E | Specify key elements of the study setting (eg, primary care, secondary care,
    general population) including the number and location of centres
6b | Methods | Participants | D;E | Describe the eligibility criteria for study participants
6c | Methods | Participants | D;E | Give details of any treatments received, and how they were handled during model
    development or evaluation, if relevant
7 | Methods | Data preparation | D;E | Describe any data pre-processing and quality checking, including whether this
    was similar across relevant sociodemographic groups
8a | Methods | Outcome | D;E | Clearly define the outcome that is being predicted and the time horizon, including
    how and when assessed, the rationale for choosing this outcome, and whether the method of outcome assessment is
    consistent across sociodemographic groups
8b | Methods | Outcome | D;E | If outcome assessment requires subjective interpretation, describe the qualifications
    and demographic characteristics of the outcome assessors
8c | Methods | Outcome | D;E | Report any actions to blind assessment of the outcome to be predicted
9a | Methods | Predictors | D | Describe the choice of initial predictors (eg, literature, previous models, all
    available predictors) and any pre-selection of predictors before model building
9b | Methods | Predictors | D;E | Clearly define all predictors, including how and when they were measured (and any
    actions to blind assessment of predictors for the outcome and other predictors)
9c | Methods | Predictors | D;E | If predictor measurement requires subjective interpretation, describe the
    qualifications and demographic characteristics of the predictor assessors
10 | Methods | Sample size | D;E | Explain how the study size was arrived at (separately for development and
    evaluation), and justify that the study size was sufficient to answer the research question. Include details of
    any sample size calculation
11 | Methods | Missing data | D;E | Describe how missing data were handled. Provide reasons for omitting any data
12a | Methods | Analytical methods | D | Describe how the data were used (eg, for development and evaluation of
    model performance) in the analysis, including whether the data were partitioned, considering any sample size
    requirements
12b | Methods | Analytical methods | D | Depending on the type of model, describe how predictors were handled in the
    analyses (functional form, rescaling, transformation, or any standardisation)
12c | Methods | Analytical methods | D | Specify the type of model, rationale, all model building steps, including
    any hyperparameter tuning, and method for internal validation
12d | Methods | Analytical methods | D;E | Describe if and how any heterogeneity in estimates of model parameter
    values and model performance was handled and quantified across clusters (eg, hospitals, countries). See
    TRIPOD-Cluster for additional considerations
12e | Methods | Analytical methods | D;E | Specify all measures and plots used (and their rationale) to evaluate
    model performance (eg, discrimination, calibration, clinical utility) and, if relevant, to compare multiple
    models
12f | Methods | Analytical methods | E | Describe any model updating (eg, recalibration) arising from the model
    evaluation, either overall or for particular sociodemographic groups or settings
12g | Methods | Analytical methods | E | For model evaluation, describe how the model predictions were calculated
    (eg, formula, code, object, application programming interface)
13 | Methods | Class imbalance | D;E | If class imbalance methods were used, state why and how this was done, and
    any subsequent methods to recalibrate the model or the model predictions
14 | Methods | Fairness | D;E | Describe any approaches that were used to address model fairness and their rationale
15 | Methods | Model output | D | Specify the output of the prediction model (eg, probabilities, classification).
    Provide details and rationale for any classification and how the thresholds were identified
16 | Methods | Training versus evaluation | D;E | Identify any differences between the development and evaluation
    data in healthcare setting, eligibility criteria, outcome, and predictors
17 | Methods | Ethical approval | D;E | Name the institutional research board or ethics committee that approved the
    study and describe the participant informed consent or the ethics committee waiver of informed consent
18a | Open science | Funding | D;E | Give the source of funding and the role of the funders for the present study
18b | Open science | Conflicts of interest | D;E | Declare any conflicts of interest and financial disclosures for
    all authors
18c | Open science | Protocol | D;E | Indicate where the study protocol can be accessed or state that a protocol was
    not prepared
18d | Open science | Registration | D;E | Provide registration information for the study, including register name
    and registration number, or state that the study was not registered
18e | Open science | Data sharing | D;E | Provide details of the availability of the study data
18f | Open science | Code sharing | D;E | Provide details of the availability of the analytical code
19 | Patient and public involvement | Patient and public involvement | D;E | Provide details of any patient and
    public involvement during the design, conduct, reporting, interpretation, or dissemination of the study or state
    no involvement
20a | Results | Participants | D;E | Describe the flow of participants through the study, including the number of
    participants with and without the outcome and, if applicable, a summary of the follow-up time. A diagram may be
    helpful
20b | Results | Participants | D;E | Report the characteristics overall and, where applicable, for each data source
    or setting, including the key dates, key predictors (including demographics), treatments received, sample size,
    number of outcome events, follow-up time, and amount of missing data. A table may be helpful. Report any
    differences across key demographic groups
20c | Results | Participants | E | For model evaluation, show a comparison with the development data of the
    distribution of important predictors (demographics, predictors, and outcome)
21 | Results | Model development | D;E | Specify the number of participants and outcome events in each analysis (eg,
    for model development, hyperparameter tuning, model evaluation)
22 | Results | Model specification | D | Provide details of the full prediction model (eg, formula, code, object,
    application programming interface) to allow predictions in new individuals and to enable third party evaluation
    and implementation, including any restrictions to access or reuse (eg, freely available, proprietary)
23a | Results | Model performance | D;E | Report model performance estimates with confidence intervals, including
    for any key subgroups (eg, sociodemographic). Consider plots to aid presentation
23b | Results | Model performance | D;E | If examined, report results of any heterogeneity in model performance
    across clusters. See TRIPOD-Cluster for additional details
24 | Results | Model updating | E | Report the results from any model updating, including the updated model and
    subsequent performance
25 | Discussion | Interpretation | D;E | Give an overall interpretation of the main results, including issues of
    fairness in the context of the objectives and previous studies
26 | Discussion | Limitations | D;E | Discuss any limitations of the study (such as a non-representative sample,
    sample size, overfitting, missing data) and their effects on any biases, statistical uncertainty, and
    generalisability
27a | Discussion | Usability of the model in the context of current care | D | Describe how poor quality or
    unavailable input data (eg, predictor values) should be assessed and handled when implementing the prediction
    model
27b | Discussion | Usability of the model in the context of current care | D | Specify whether users will be
    required to interact in the handling of the input data or use of the model, and what level of expertise is
    required of users
27c | Discussion | Usability of the model in the context of current care | D;E | Discuss any next steps for future
    research, with a specific view to applicability and generalisability of the model
"""))

# Item | section (— subsection) | item, as on the CLEAR v1.0 checklist form.
CLEAR_ITEMS: tuple[ClearItem, ...] = tuple(ClearItem(*cells) for cells in _rows("""
1 | Title | Relevant title, specifying the radiomic methodology
2 | Abstract | Structured summary with relevant information
3 | Keywords | Relevant keywords for radiomics
4 | Introduction | Scientific or clinical background
5 | Introduction | Rationale for using a radiomic approach
6 | Introduction | Study objective(s)
7 | Method — Study design | Adherence to guidelines or checklists (e.g., CLEAR checklist)
8 | Method — Study design | Ethical details (e.g., approval, consent, data protection)
9 | Method — Study design | Sample size calculation
10 | Method — Study design | Study nature (e.g., retrospective, prospective)
11 | Method — Study design | Eligibility criteria
12 | Method — Study design | Flowchart for technical pipeline
13 | Method — Data | Data source (e.g., private, public)
14 | Method — Data | Data overlap
15 | Method — Data | Data split methodology
16 | Method — Data | Imaging protocol (i.e., image acquisition and processing)
17 | Method — Data | Definition of non-radiomic predictor variables
18 | Method — Data | Definition of the reference standard (i.e., outcome variable)
19 | Method — Segmentation | Segmentation strategy
20 | Method — Segmentation | Details of operators performing segmentation
21 | Method — Pre-processing | Image pre-processing details
22 | Method — Pre-processing | Resampling method and its parameters
23 | Method — Pre-processing | Discretization method and its parameters
24 | Method — Pre-processing | Image types (e.g., original, filtered, transformed)
25 | Method — Feature extraction | Feature extraction method
26 | Method — Feature extraction | Feature classes
27 | Method — Feature extraction | Number of features
28 | Method — Feature extraction | Default configuration statement for remaining parameters
29 | Method — Data preparation | Handling of missing data
30 | Method — Data preparation | Details of class imbalance
31 | Method — Data preparation | Details of segmentation reliability analysis
32 | Method — Data preparation | Feature scaling details (e.g., normalization, standardization)
33 | Method — Data preparation | Dimension reduction details
34 | Method — Modeling | Algorithm details
35 | Method — Modeling | Training and tuning details
36 | Method — Modeling | Handling of confounders
37 | Method — Modeling | Model selection strategy
38 | Method — Evaluation | Testing technique (e.g., internal, external)
39 | Method — Evaluation | Performance metrics and rationale for choosing
40 | Method — Evaluation | Uncertainty evaluation and measures (e.g., confidence intervals)
41 | Method — Evaluation | Statistical performance comparison (e.g., DeLong's test)
42 | Method — Evaluation | Comparison with non-radiomic and combined methods
43 | Method — Evaluation | Interpretability and explainability methods
44 | Results | Baseline demographic and clinical characteristics
45 | Results | Flowchart for eligibility criteria
46 | Results | Feature statistics (e.g., reproducibility, feature selection)
47 | Results | Model performance evaluation
48 | Results | Comparison with non-radiomic and combined approaches
49 | Discussion | Overview of important findings
50 | Discussion | Previous works with differences from the current study
51 | Discussion | Practical implications
52 | Discussion | Strengths and limitations (e.g., bias and generalizability issues)
53 | Open Science — Data availability | Sharing images along with segmentation data [n/e]
54 | Open Science — Data availability | Sharing radiomic feature data
55 | Open Science — Code availability | Sharing pre-processing scripts or settings
56 | Open Science — Code availability | Sharing source code for modeling
57 | Open Science — Model availability | Sharing final model files
58 | Open Science — Model availability | Sharing a ready-to-use system [n/e]
"""))
