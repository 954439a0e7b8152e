"""Interest tags: the taxonomy operators manage and their labelled examples (`taxonomy`), the interest and
intent classifiers' lifecycle (`classifiers`: training job, gate, versioned blobs), tagging each message and
the fans' interest profiles (`tagging`, `profiles`), recomputing them (`retag`), and the sync to WeChat user
tags (`wechat_sync`)."""

from hub.tags import audience_push, audiences, profiles
from hub.tags.audience_syntax import AudienceSyntaxError
from hub.tags.classifiers import KINDS as MODEL_KINDS
from hub.tags.classifiers import job_status, model_for, request_training, train_tag_model
from hub.tags.classifiers import preloaders as classifier_preloaders
from hub.tags.fans import merge_fan_tags, split_fan_tags
from hub.tags.fans import summary as fan_tag_summary
from hub.tags.labelling import QueueItem, active_model_figures, label_queue
from hub.tags.merge import merge_tags
from hub.tags.models import TAG_KINDS, Example, FanProfile, FanTag, SavedAudience, Tag, WeChatTagLink
from hub.tags.profiles import interests_of
from hub.tags.retag import RetagError, retag_all, total_fans
from hub.tags.tagging import intent_service, tag_message
from hub.tags.taxonomy import TagError, TagNotFound, add_example, create_tag, delete_tag, tag_dict, update_tag
from hub.tags.wechat_sync import request_sync, sync_account

__all__ = [
    "MODEL_KINDS", "TAG_KINDS", "Example", "FanProfile", "FanTag", "RetagError", "Tag", "TagError", "TagNotFound",
    "WeChatTagLink", "add_example", "classifier_preloaders", "create_tag", "delete_tag", "intent_service",
    "interests_of", "job_status", "model_for", "profiles", "request_sync", "request_training", "retag_all",
    "sync_account", "tag_dict", "tag_message", "total_fans", "train_tag_model", "update_tag",
    "QueueItem", "active_model_figures", "label_queue", "merge_tags",
    "AudienceSyntaxError", "SavedAudience", "audience_push", "audiences",
    "fan_tag_summary", "merge_fan_tags", "split_fan_tags",
]
