"""Reference class names: the 80 COCO object classes and the 150 ADE20K scene classes, in the index order
the COCO- and ADE20K-trained models use (as MMDetection's CocoDataset and MMSegmentation's ADE20KDataset
name them). Models bring their own vocabularies from their checkpoints; these lists are used to tell a typo
in a rule file from a real class that the configured model cannot produce, and for suggestions.
"""

COCO_CLASSES = (
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat', 'traffic light',
    'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
    'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee',
    'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard', 'surfboard',
    'tennis racket', 'bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple',
    'sandwich', 'orange', 'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch',
    'potted plant', 'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote', 'keyboard', 'cell phone',
    'microwave', 'oven', 'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors', 'teddy bear',
    'hair drier', 'toothbrush',
)

ADE20K_CLASSES = (
    'wall', 'building', 'sky', 'floor', 'tree', 'ceiling', 'road', 'bed ', 'windowpane', 'grass', 'cabinet',
    'sidewalk', 'person', 'earth', 'door', 'table', 'mountain', 'plant', 'curtain', 'chair', 'car', 'water',
    'painting', 'sofa', 'shelf', 'house', 'sea', 'mirror', 'rug', 'field', 'armchair', 'seat', 'fence', 'desk',
    'rock', 'wardrobe', 'lamp', 'bathtub', 'railing', 'cushion', 'base', 'box', 'column', 'signboard',
    'chest of drawers', 'counter', 'sand', 'sink', 'skyscraper', 'fireplace', 'refrigerator', 'grandstand', 'path',
    'stairs', 'runway', 'case', 'pool table', 'pillow', 'screen door', 'stairway', 'river', 'bridge', 'bookcase',
    'blind', 'coffee table', 'toilet', 'flower', 'book', 'hill', 'bench', 'countertop', 'stove', 'palm',
    'kitchen island', 'computer', 'swivel chair', 'boat', 'bar', 'arcade machine', 'hovel', 'bus', 'towel',
    'light', 'truck', 'tower', 'chandelier', 'awning', 'streetlight', 'booth', 'television receiver', 'airplane',
    'dirt track', 'apparel', 'pole', 'land', 'bannister', 'escalator', 'ottoman', 'bottle', 'buffet', 'poster',
    'stage', 'van', 'ship', 'fountain', 'conveyer belt', 'canopy', 'washer', 'plaything', 'swimming pool', 'stool',
    'barrel', 'basket', 'waterfall', 'tent', 'bag', 'minibike', 'cradle', 'oven', 'ball', 'food', 'step', 'tank',
    'trade name', 'microwave', 'pot', 'animal', 'bicycle', 'lake', 'dishwasher', 'screen', 'blanket', 'sculpture',
    'hood', 'sconce', 'vase', 'traffic light', 'tray', 'ashcan', 'fan', 'pier', 'crt screen', 'plate', 'monitor',
    'bulletin board', 'shower', 'radiator', 'glass', 'clock', 'flag',
)

# ADE20K classes that are objects ("things") rather than ground or surroundings ("stuff"). With
# background.exclude_things they do not vote for the background, so that a person does not stand "on person".
THING_CLASSES = frozenset({
    'person', 'car', 'bus', 'truck', 'van', 'minibike', 'bicycle', 'animal', 'boat', 'ship', 'airplane',
    'chair', 'sofa', 'bench', 'armchair', 'swivel chair', 'stool', 'table', 'desk', 'bed ', 'cradle',
    'box', 'bag', 'basket', 'bottle', 'pot', 'vase', 'plaything', 'ball', 'flag', 'tray', 'plate', 'book',
    'traffic light', 'streetlight', 'pole', 'ashcan', 'tree', 'palm', 'signboard', 'ottoman',
    'lamp', 'sconce', 'fan', 'clock', 'computer', 'monitor', 'screen', 'crt screen',
    'television receiver', 'kitchen island', 'refrigerator', 'stove', 'oven', 'microwave', 'dishwasher',
    'washer', 'toilet', 'bathtub', 'shower', 'sink', 'cushion', 'pillow', 'blanket', 'towel', 'apparel',
    'food', 'glass', 'radiator', 'hood', 'fountain', 'sculpture', 'tank', 'booth', 'tent', 'barrel',
    'chandelier', 'pool table', 'arcade machine', 'bar', 'counter', 'case', 'chest of drawers',
    'wardrobe', 'bookcase', 'shelf', 'cabinet', 'buffet', 'poster', 'painting',
    'mirror', 'curtain', 'blind', 'screen door', 'light', 'bulletin board', 'hovel', 'column',
})
assert THING_CLASSES <= set(ADE20K_CLASSES)
