"""The recommender system under test (`recsys-ranker`): a torch ranker that scores documents from
user-history and document features (perception) and a slate policy (controller). Versions are
manifests next to their state_dict weights; `train` regenerates them from the simulator."""
