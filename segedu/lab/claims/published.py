"""For every claim of the report: what kind of evidence our experiment gives, and what the papers published.

`KIND` sorts each claim (every name in `registry.REPORT_ORDER`, and any claim registered as pending) by what its
experiment can show:

    "identity"  an exact identity or an operation / parameter count: no training, no seeds (a 1x1 convolution is a
                per-pixel linear layer; FLOP, parameter and receptive-field arithmetic). `skip_concat_vs_sum` counts
                here no longer: its old arms (a 1x1 score after concatenating levels, and the sum of per-level 1x1 scores)
                spanned the same functions; it now fuses features before a nonlinear decoder, a faithful test.
    "faithful"  a trained experiment that tests what the lecture says in the setting it means, e.g. decoder heads on
                the frozen ImageNet-pretrained EfficientNet-Lite0 for claims about decoder design.
    "proxy"     a trained experiment that tests something other than, or weaker than, what the lecture means:
                networks trained from scratch (for minutes) where the lecture means ImageNet-pretrained ones trained
                for days (PSPNet's auxiliary loss). The probes, FCN's object sizes, U-Net's three trainings, SegNet
                against FCN and DeconvNet's three claims were proxies until their experiments were rebuilt (equal
                resolution, measured receptive fields, U-Net's own deformation, the weight map's three arms,
                bias-corrected momentum; SegNet's and DeconvNet's unpooling decoders on the frozen ImageNet encoder,
                object-centred proposals, little data that overfits); a report line measured before that keeps the
                kind it was measured as ("kind" in claims.json).

    "not testable offline"
                a claim about ImageNet-pretrained networks that are not available offline (ResNet, VGG, MobileNet:
                only EfficientNet-Lite0 to Lite2 are); the published evidence is quoted, no verdict is given, and
                only what needs no weights is measured (what each network costs).

`PUBLISHED` gives, for each claim, one sentence of the published evidence from the paper the lecture follows:
paper (authors year), table / figure / section, dataset and numbers. Every number is one the cited paper prints, or
a difference or ratio of two it prints; where a paper gives no number the sentence says so ("no published figure" or
"no published ablation") and describes what the paper shows instead. For identities it gives what the paper states or
counts.
"""

from __future__ import annotations

__all__ = ["KIND", "PUBLISHED"]

KIND: dict[str, str] = {
    # notebook 07: FCN
    "fcn_skips_miou": "faithful",
    "fcn_skips_boundary": "faithful",
    "fcn_skips_thin": "faithful",
    "fcn_object_sizes": "faithful",
    "fcn_field_enlarged": "faithful",
    "fcn_field_trained_sizes": "faithful",
    "fcn_field_shrunk": "faithful",
    # notebooks 04 and 11: levels of a frozen encoder
    "linear_probe_depth": "faithful",
    "hypercolumn_levels": "faithful",
    # notebook 10: context, CRF
    "context_pyramid": "faithful",
    "context_aspp": "faithful",
    "context_large_regions": "faithful",
    "crf_largefov": "faithful",
    "unet_pspnet_small_objects": "faithful",
    # notebook 11: transfer learning
    "input_size_trained": "faithful",
    "input_size_small_objects": "faithful",
    "transfer_learning": "faithful",
    # notebooks 08 and 09: trained end to end
    "segnet_vs_fcn": "faithful",
    "unet_weight_map_training": "faithful",
    "unet_elastic_few_slices": "faithful",
    "unet_momentum_one_tile": "faithful",
    "pix2pix_painted_data": "proxy",
    "pix2pix_scarce_data": "faithful",
    "backbones_accuracy": "not testable offline",  # no ImageNet ResNet, VGG or MobileNet offline: cost only
    "truncated_resnets": "not testable offline",  # likewise: truncated ImageNet ResNets
    # identities and counts
    "separable_cost": "identity",
    "dilation_field": "identity",
    "output_stride_cost": "identity",
    "segnet_switches": "identity",
    "input_size_cost": "identity",
    "skip_concat_vs_sum": "faithful",
    "one_by_one_per_pixel": "identity",
    "fully_connected_as_convolution": "identity",
    "bilinear_transposed_convolution": "identity",
    "transposed_is_adjoint": "identity",
    "unpooling_keeps_positions": "identity",
    "segnet_parameters": "identity",
    "separable_aspp_cost": "identity",
    "border_weights": "identity",
    "pyramid_bins_collapse": "identity",
    # DeconvNet's decoders on the frozen ImageNet encoder; PSPNet fine-tuned from it
    "deconvnet_fcn_ensemble": "faithful",
    "deconvnet_instance_wise": "faithful",
    "deconvnet_two_stage": "faithful",
    "deconvnet_easy_first": "faithful",
    "deconvnet_misalignment": "faithful",
    "pspnet_auxiliary_loss": "faithful",
}

PUBLISHED: dict[str, str] = {
    "fcn_skips_miou":
        "Long et al. 2015, Table 2: FCN-8s 62.7 vs FCN-16s 62.4 vs FCN-32s 59.4 mean IU on a subset of PASCAL VOC "
        "2011 val (+0.3 and +3.0)",
    "fcn_skips_boundary":
        "Long et al. 2015 give no boundary metric, only Fig. 4 (finer detail from 32s to 8s); Chen et al. 2018 (v3+), "
        "Fig. 5a: a stride-4 skip decoder adds 4.8 mIOU (ResNet-101) in the narrowest trimap, VOC 2012 val",
    "fcn_skips_thin":
        "no published figure: Long et al. 2015 report no per-class or thin-object IU for FCN-32s/16s/8s; their Fig. 4 "
        "shows the skips recovering finer structure qualitatively",
    "fcn_object_sizes":
        "no published figure: Noh et al. 2015 (DeconvNet), Sec. 1 and Fig. 1 show FCN fragmenting objects larger than "
        "its receptive field and missing small ones, qualitatively on PASCAL VOC",
    "fcn_field_enlarged":
        "no published figure: Noh et al. 2015 (DeconvNet), Sec. 1 and Fig. 1 show FCN labelling an object larger than "
        "its receptive field (a bus) inconsistently, qualitatively on PASCAL VOC",
    "fcn_field_trained_sizes":
        "no published ablation: Noh et al. 2015 (DeconvNet) attribute FCN's inconsistent labels of large objects to "
        "its fixed receptive field and do not separate it from the object sizes FCN was trained on",
    "fcn_field_shrunk":
        "no published figure: Noh et al. 2015 (DeconvNet), Sec. 1 and Fig. 1 show FCN ignoring small objects or "
        "labelling them as background, qualitatively on PASCAL VOC",
    "linear_probe_depth":
        "Zeiler & Fergus 2014, Table 7: a linear SVM on frozen ImageNet layers 1/3/5/7 scores 44.8/72.3/86.2/85.5% on "
        "Caltech-101 (classification, layer 7 just below 5); no per-level segmentation probe",
    "hypercolumn_levels":
        "Hariharan et al. 2015, abstract: hypercolumn pixel descriptors raise SDS on PASCAL VOC from the prior 49.7 to "
        "60.0 mean AP^r (59.0 in the CVPR text), against a prior system, not one level of the same net",
    "context_pyramid":
        "Zhao et al. 2017 (PSPNet), Table 1: pyramid pooling (bins 1,2,3,6, average, reduced) 41.68 vs 37.23 mean IoU "
        "for the dilated ResNet-50 FCN baseline, ADE20K val (+4.45)",
    "context_aspp":
        "Chen et al. 2018 (DeepLab v2), Table 3: ASPP-L (rates 6,12,18,24) 68.96 vs single-branch LargeFOV 65.76 mean "
        "IOU before CRF (71.57 vs 69.84 after), VGG-16, PASCAL VOC 2012 val",
    "context_large_regions":
        "no published figure: Zhao et al. 2017 (PSPNet), Sec. 3.1 and Fig. 2 argue context helps both small "
        "inconspicuous things and big stuff exceeding FCN's receptive field; no breakdown by region size",
    "unet_pspnet_small_objects":
        "no published comparison by object size: Ronneberger et al. 2015 (U-Net) and Zhao et al. 2017 (PSPNet, Sec. "
        "3.1, Fig. 2: small inconspicuous things) each argue for their own design; neither measures gains on small "
        "objects against large regions beside a plain FCN",
    "crf_largefov":
        "Chen et al. 2015 (DeepLab v1; Table 1 of the 2018 PAMI version): the dense CRF lifts DeepLab-LargeFOV from "
        "62.25 to 67.64 mean IOU, PASCAL VOC 2012 val; 3-5 points for every variant",
    "input_size_trained":
        "no segmentation figure in the followed papers; Howard et al. 2017 (MobileNets), Table 7: input 224 vs 128 px "
        "gives 70.6 vs 64.4% ImageNet accuracy at 569M vs 186M mult-adds",
    "input_size_small_objects":
        "no published comparison of 400 and 600 px inputs in the followed papers: Zhao et al. 2017 (PSPNet) train on "
        "473x473 crops (713x713 on Cityscapes), Chen et al. 2018 (DeepLab v3+) on 513x513",
    "transfer_learning":
        "Long et al. 2015, Table 2: training only the classifier on frozen VGG16 (FCN-32s-fixed) 45.4 vs fine-tuning "
        "all layers 59.4 mean IU (VOC 2011 val subset); the 2x2 regime advice has no paper table",
    "segnet_vs_fcn":
        "Badrinarayanan et al. 2017, Table 1: SegNet-Basic 47.7 vs FCN-Basic 47.3 mIoU on CamVid, FCN storing 11x "
        "the encoder memory; Table 3 (3433 images): SegNet 60.10 vs FCN (learnt deconv) 51.96",
    "unet_weight_map_training":
        "no published ablation: Ronneberger et al. 2015, Sec. 3 (Eq. 2, w0=10, sigma~5 px) use the weight map in "
        "every run; the ISBI 2012 warping error 0.0003529 (Table 1) is for the whole method",
    "unet_elastic_few_slices":
        "no published ablation: Ronneberger et al. 2015, Sec. 3.1 call elastic deformation (3x3 grid, 10 px std "
        "displacements) the key to training with very few annotated images, without comparing it",
    "unet_momentum_one_tile":
        "no published ablation: Ronneberger et al. 2015, Sec. 3 use one large tile per batch and momentum 0.99 so "
        "that many past samples shape each update, without comparing other momenta",
    "pix2pix_painted_data":
        "Isola et al. 2017 (pix2pix), Table 1: Cityscapes labels to photos scored by a segmenter trained on real "
        "photos (FCN-score), class IoU 0.11 for L1 alone against 0.17 for L1 + cGAN (real photos 0.21)",
    "pix2pix_scarce_data":
        "no published figure for pix2pix on ISBI 2012: Bowles et al. 2018 (GAN augmentation, a GAN of joint "
        "image-label patches, two brain segmentation tasks) report Dice +1 to +5 points, largest with fewer than ten "
        "training stacks",
    "backbones_accuracy":
        "Chen et al. 2018 (DeepLab v2), Sec. 4.1: ResNet-101 68.72 vs VGG-16 65.76 mIOU (VOC 2012 val, no CRF); "
        "Howard et al. 2017, Table 8: MobileNet 70.6 vs VGG16 71.5% ImageNet, 569M vs 15300M mult-adds",
    "truncated_resnets":
        "no published figure for ResNet-10/21: He et al. 2016, Tables 1-2: ResNet-18 vs 34 cost 1.8 vs 3.6 GFLOPs "
        "at 27.88 vs 25.03% top-1 error (ImageNet val, 10-crop)",
    "separable_cost":
        "Howard et al. 2017 (MobileNets), Sec. 3.1: cost ratio 1/N + 1/k^2, 3x3 uses 8 to 9 times less computation; "
        "Table 4: 569M vs 4866M mult-adds at 70.6 vs 71.7% ImageNet",
    "dilation_field":
        "Chen et al. 2018 (DeepLab v2), Sec. 3.1: rate r enlarges a kxk kernel to k+(k-1)(r-1) 'without increasing "
        "the number of parameters or the amount of computation'",
    "output_stride_cost":
        "Chen et al. 2018 (v3+), Table 3: ResNet-101 evaluated at output stride 8 costs 276.18B vs 81.02B "
        "multiply-adds at 16 (3.4x), for 78.51 vs 77.21 mIOU, PASCAL VOC 2012 val",
    "segnet_switches":
        "Badrinarayanan et al. 2017, Sec. 3: indices need '2 bits for each 2x2 pooling window'; Table 1: FCN-Basic "
        "stores 11x the encoder memory of SegNet-Basic (storage multiplier 11 vs 1)",
    "input_size_cost":
        "Howard et al. 2017 (MobileNets), Table 7: the same network at 224 vs 128 px input costs 569M vs 186M "
        "mult-adds (3.1x for 3.1x the pixels), parameters unchanged",
    "skip_concat_vs_sum":
        "no published figure: Ronneberger et al. 2015 concatenate cropped encoder maps (Sec. 2) and Long et al. 2015 "
        "sum scores (Sec. 4.2); neither compares the two",
    "one_by_one_per_pixel":
        "Long et al. 2015, Sec. 4.1: a 1x1 convolution with 21 channels predicts the class scores at each coarse "
        "output location, one classifier shared by every position (no figure)",
    "fully_connected_as_convolution":
        "Long et al. 2015, Sec. 3.1, Fig. 2: fully connected layers are 'convolutions with kernels that cover their "
        "entire input regions'; 22 ms for a 10x10 score grid on 500x500 vs 1.2 ms per 227x227",
    "bilinear_transposed_convolution":
        "Long et al. 2015, Sec. 3.3/4.2: upsampling initialized to bilinear, then learned; Badrinarayanan et al. 2017, "
        "Table 1: learned (FCN-Basic) 47.3 vs fixed bilinear 43.3 mIoU, CamVid",
    "transposed_is_adjoint":
        "Long et al. 2015, Sec. 3.3: upsampling by f is backwards convolution with output stride f, trivial to "
        "implement as it 'reverses the forward and backward passes of convolution' (no figure)",
    "unpooling_keeps_positions":
        "Noh et al. 2015 (DeconvNet), Fig. 3: unpooling puts each activation back at the location its switch "
        "variable recorded, giving a sparse enlarged map (an illustration, no number)",
    "segnet_parameters":
        "Badrinarayanan et al. 2017, Sec. 3: dropping VGG16's fully connected layers cuts the encoder from 134M to "
        "14.7M parameters; Table 6: model size 117 MB vs FCN's 539 MB, DeconvNet's 877 MB",
    "separable_aspp_cost":
        "Chen et al. 2018 (v3+), Sec. 4.3, Table 5: depthwise separable ASPP and decoder cut multiply-adds by 33% to "
        "41% at similar mIOU (e.g. 89.76B to 54.17B), Xception, VOC 2012 val",
    "border_weights":
        "Ronneberger et al. 2015, Sec. 3, Eq. 2, Fig. 3d: w0*exp(-(d1+d2)^2/(2 sigma^2)) with w0=10, sigma~5 px "
        "weights the thin gaps between touching cells; no weight ratio reported",
    "pyramid_bins_collapse":
        "Zhao et al. 2017 (PSPNet), Sec. 3.2: bins 1x1, 2x2, 3x3, 6x6 on a stride-8 map; the official models take "
        "473x473 (ADE20K, 60x60 map) and 713x713 (Cityscapes) inputs",
    "deconvnet_fcn_ensemble":
        "Noh et al. 2015, Table 1: EDeconvNet 71.7 vs DeconvNet 69.6 vs FCN-8s 62.2 mean IoU on PASCAL VOC 2012 test "
        "(72.5 with CRF); ImageNet VGG-16, two-stage training, 50 proposals",
    "deconvnet_instance_wise":
        "no isolated figure: Noh et al. 2015 aggregate the top 50 edge-box proposals per image; Fig. 6 shows the "
        "coarse-to-fine gain qualitatively, with no number against one pass over the whole image",
    "deconvnet_two_stage":
        "no published ablation: Noh et al. 2015 train first on ~0.2M object-centred crops, then on ~2.7M proposal "
        "crops, and report no comparison with one-stage training",
    "deconvnet_easy_first":
        "no published ablation: Noh et al. 2015 (section 4.2) order the examples easy first, then hard, and do not "
        "compare the order with the same examples mixed",
    "deconvnet_misalignment":
        "no published ablation: Noh et al. 2015 (section 4.2) fine-tune on ~2.7M crops of edge-box proposals with IoU "
        ">= 0.5 and report no comparison without that stage",
    "pspnet_auxiliary_loss":
        "Zhao et al. 2017 (PSPNet), Table 2: auxiliary loss at weight 0.4 gives 37.23 vs 35.82 mean IoU without it "
        "(+1.41), dilated ImageNet ResNet-50, ADE20K val",
}
