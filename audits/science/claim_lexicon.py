"""Term lists for the visual-claim detector (targets in ConText's sense).

Each category is a comma-separated list; spaces and hyphens inside a term are interchangeable
("x ray", "x-ray"). *Strong* categories (findings, devices, specific density / shape words) make a
sentence a claim on their own ("Mild cardiomegaly.", "No pneumothorax."); *weak* words (common
adjectives such as "large", "clear", "left", "normal") only count next to anatomy, a finding, a
perception cue or a reference to the image ("The lungs are clear.", but not "The answer is clear").
"""

from __future__ import annotations


def _terms(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


FINDINGS = _terms(
    """
    effusion, effusions, nodule, nodules, mass, masses, lesion, lesions, opacity, opacities,
    opacification, consolidation, consolidations, consolidative, fracture, fractures,
    pneumothorax, pneumothoraces, cardiomegaly, edema, oedema, atelectasis, atelectatic,
    infiltrate, infiltrates, infiltration, calcification, calcifications, calcified, cyst,
    cysts, cystic, cystic changes, tumor, tumors, tumour, tumours, abscess, hemorrhage,
    haemorrhage, bleed, hematoma, haematoma, infarct, infarction, aneurysm, dissection,
    stenosis, occlusion, thrombus, thrombosis, embolus, emboli, embolism, pneumonia,
    pneumonias, pneumoperitoneum, pneumomediastinum, free air, free fluid, air-fluid level,
    air-fluid levels, dilatation, dilation, obstruction, herniation, hernia, metastasis,
    metastases, metastatic, metastatic focus, lymphadenopathy, adenopathy, enlargement,
    thickening, scarring, scar, fibrosis, emphysema, emphysematous, bulla, bullae, cavity,
    cavitation, granuloma, granulomas, granulomatous, mass effect, midline shift, mediastinal
    shift, collapse, blunting, widening, narrowing, displacement, deviation, erosion,
    destruction, dislocation, subluxation, ascites, splenomegaly, hepatomegaly, hydronephrosis,
    hydrocephalus, stone, stones, calculus, calculi, gallstones, polyp, ulcer, ulceration,
    diverticulitis, appendicitis, ileus, pneumatosis, ground-glass, ground glass, reticulation,
    honeycombing, air bronchogram, air bronchograms, kerley lines, necrosis, inflammation,
    atypia, mitoses, mitotic figures, pleomorphism, hyperplasia, dysplasia, dysplastic,
    carcinoma, adenocarcinoma, lymphoma, granulation tissue, giant cells, atypical cells,
    abnormality, abnormalities, active disease, acute pathology,
    abnormal finding, foreign body, artifact, shadowing, infiltrative, airspace disease, air
    space disease, airspace opacity, acute process, acute disease, acute abnormality, acute
    findings, cardiopulmonary process, cardiopulmonary disease, cardiopulmonary abnormality,
    intrathoracic process, congestion, vascular congestion, pulmonary edema, interstitial
    edema, degenerative changes, postoperative changes, post-surgical changes, osteopenia,
    osteophytes, kyphosis, scoliosis, spondylosis, sclerosis, atherosclerosis, atherosclerotic,
    tortuosity, tortuous, hyperexpansion, hyperinflation, lung markings, interstitial markings,
    engorgement, cephalization, phlegmon, intussusception, thrombi, aneurysmal, cardiomyopathy,
    pleural line, pleural thickening, effacement, loss of volume, volume loss, fluid
    collection, hyperintensity, hyperintensities, hypointensity, hypointensities, neoplasm,
    pneumonic, plaque, plaques, callus, healed fracture, deformity, bronchiectasis, infarcts,
    degenerative disease, degenerative disc disease, disc disease, osteoarthritis, arthritis,
    arthropathy, osteophytosis, osteophyte, spurring, spondylosis, spondylolisthesis,
    anterolisthesis, retrolisthesis, listhesis, scoliosis, levoscoliosis, dextroscoliosis,
    lordosis, kyphoscoliosis, joint effusion, swelling, soft tissue swelling, hallux valgus,
    hallux rigidus, bunion, erosions, sclerosis, lymph node, lymph nodes, lymphadenopathy,
    cholelithiasis, choledocholithiasis, nephrolithiasis, urolithiasis, diverticulosis,
    steatosis, cirrhosis, atrophy, gliosis, encephalomalacia, ischemic change, ischemic changes,
    small vessel disease, microangiopathy, architectural distortion, fibroglandular density,
    fibroglandular densities, emphysematous changes, septal thickening, pericardial effusion,
    granulation, consolidative opacity, infiltrates, bowel obstruction, chf, unfolding, unfolded,
    uncoiling, uncoiled, demineralized, demineralization, osteoporotic, osteoporosis,
    significant findings, hyperlucency, fistula, fistulas, fistulae, coalition, loose bodies,
    loose body, tear, tears, bulge, disc bulge, protrusion, extrusion, oedema, marrow oedema
    """
)
DEVICES = _terms(
    """
    pacemaker, pacer, defibrillator, icd, picc, picc line, central line, central venous
    catheter, catheter, port-a-cath, et tube, ett, endotracheal tube, ng tube, nasogastric
    tube, og tube, orogastric tube, feeding tube, dobhoff, chest tube, chest tubes, drains,
    swan-ganz, tracheostomy, trach, tracheostomy tube, valve replacement, prosthetic valve,
    sternotomy, sternotomy wires, sternal wires, wires, hardware, screws, prosthesis,
    arthroplasty, stent, stents, coils, clips, surgical clips, shunt, ivc filter, staples,
    electrodes, monitoring leads, pacemakers, pacers, port-a-caths, implant, implants, nail,
    intramedullary nail, external fixator, fixator
    """
)
DENSITY = _terms(
    """
    hyperdense, hypodense, isodense, hyperintense, hypointense, isointense, hyperechoic,
    hypoechoic, anechoic, isoechoic, echogenic, hyperattenuating, hypoattenuating,
    low-attenuation, high-attenuation, radiopaque, radioopaque, radiolucent, lucent, lucency,
    lucencies, opaque, densities, attenuation, enhancement, enhancing, ring-enhancing,
    non-enhancing, signal intensity, high signal, low signal, sclerotic, lytic, eosinophilic,
    basophilic, hyperchromatic, hazy, haziness, whiteout, radiodense
    """
)
WEAK_FINDINGS = _terms(
    """
    air, fluid, findings, changes, contrast, cancer, infection, malignancy, pathology,
    collection, shift, markings, prominence, fullness, cholecystectomy, mastectomy, nephrectomy,
    lobectomy, pneumonectomy, hysterectomy, splenectomy, colectomy, thyroidectomy, graft, grafts,
    bypass graft, cabg, sign, signs
    """
)
WEAK_DEVICES = _terms(
    """
    line, lines, tube, tubes, tip, lead, leads, port, plate, filter, clip, screw, drain, coil
    """
)
WEAK_DENSITY = _terms(
    "dense, density, bright, dark, white, whiter, black, gray, grey, enhanced, enhances"
)
SIZE_SHAPE = _terms(
    """
    spiculated, lobulated, well-defined, ill-defined, well-circumscribed, circumscribed, enlarged,
    massive, multifocal, wedge-shaped, thickened, dilated, distended, collapsed, blunted,
    widened, narrowed, patchy, nodular, reticular, heterogeneous, homogeneous, mottled, streaky,
    cavitary, hyperexpanded, hyperinflated, increased in size, decreased in size,
    cardiothoracic ratio, diameter
    """
)
WEAK_SIZE_SHAPE = _terms(
    """
    round, rounded, oval, ovoid, irregular, smooth, large, small, tiny, diffuse, focal, multiple,
    solitary, linear, elongated, asymmetric, asymmetrical, size, mild, mildly, moderate,
    moderately, severe, minimal, slight, subtle, marked, prominent, big, little, trace, borderline
    """
)
APPEARANCE = _terms(
    """
    unremarkable, within normal limits, obscured, silhouetting, opacified, displaced, deviated,
    effaced, herniated, well aerated, well-aerated, well expanded, hyperlucent, in place,
    in standard position, terminates, projects over, overlies, indistinct, indistinctness,
    less distinct, less distinctive
    """
)
WEAK_APPEARANCE = _terms(
    """
    normal, abnormal, clear, intact, preserved, silhouette, shifted, elevated, flattened,
    expanded, aerated, sharp, blurred, stable, unchanged, midline, healthy, typical, patent,
    symmetric, maintained, appropriately, appropriate, increased, decreased, visible, present,
    absent, seen, noted, identified, evident, positioned, rotated, rotation, tilting, tilted,
    inspiration, penetration, well visualized, visualized, located, negative, inflated, aeration,
    improved, worsened, resolved, alignment, signal, caliber, calibre, morphology, configuration
    """
)
LOCATION = _terms(
    """
    left, right, bilateral, bilaterally, unilateral, upper lobe, lower lobe, middle lobe, lingula,
    apex, apices, apical, basal, bibasilar, base, bases, hilar, hilum, perihilar, peripheral,
    subpleural, retrocardiac, costophrenic, costophrenic angle, costophrenic angles, mediastinal,
    paratracheal, anterior, posterior, lateral, medial, superior, inferior, proximal, distal,
    cortical, subcortical, periventricular, frontal lobe, parietal lobe, temporal lobe,
    occipital lobe, right-sided, left-sided, quadrant, upper, lower, mid
    """
)
ANATOMY = _terms(
    """
    lung, lungs, heart, cardiac silhouette, cardiomediastinal silhouette, liver, kidney, kidneys,
    spleen, brain, bone, bones, rib, ribs, spine, vertebra, vertebrae, vertebral body, pleura,
    pleural space, visceral pleura, diaphragm, diaphragms, hemidiaphragm, hemidiaphragms, trachea,
    bowel, small bowel, colon, stomach, bladder, gallbladder, pancreas, aorta, ventricle,
    ventricles, sinus, sinuses, skull, femur, humerus, pelvis, renal pelvis, hip, knee, shoulder,
    chest, abdomen, thorax, mediastinum, soft tissue, soft tissues, lung fields, lung field, lobe,
    hemithorax, airway, airways, esophagus, thyroid, breast, uterus, ovary, prostate, appendix,
    mucosa, epithelium, stroma, gland, glands, tissue, cells, nuclei, white matter, gray matter,
    grey matter, cortex, heart size, cardiac size, cardiac, cardiac contour, cardiac region,
    cardiac contours, mediastinal contours, hilar contours, pulmonary vasculature,
    pulmonary vascularity, vasculature, vessels, clavicle, scapula, mandible, orbit, cerebellum,
    basal ganglia, sulci, osseous structures, bony structures, bony thorax, svc, carina,
    pulmonary artery, main pulmonary artery, aortic knob, lung volumes, pleural surfaces,
    peritoneal cavity, peritoneum, thoracic cavity, chest wall, cerebral artery, artery, arteries,
    vein, veins, intestines, internal organs, organs, abdominal region, gastrointestinal system,
    abdominal aorta, bile duct, ureter, parietal lobes, temporal region, cerebral hemisphere,
    hemisphere, mediastinal structures, surrounding structures, heart border, heart borders,
    costophrenic sulci, upper abdomen, neck, head, face, jaw, teeth, wrist, hand, foot, ankle,
    elbow, radius, ulna, tibia, fibula, aortopulmonary window, osseous, disc, discs, disc space,
    disc spaces, joint space, joint spaces, vertebral body heights, breasts, adrenals, lymph nodes,
    vascularity, hila,
    menisci, meniscus, ligament, ligaments, cruciate ligament, collateral ligament, acl, pcl, mcl,
    lcl, tendon, tendons, cartilage, articular cartilage, labrum, rotator cuff, bursa, bone marrow,
    marrow, patella, calcaneus, talus, metatarsal, metatarsals, phalanx, phalanges, carpal bones,
    scaphoid, olecranon, acetabulum, femoral head, femoral neck, sacrum, sacroiliac joints, iliac,
    glenoid, humeral head, acromion, glenohumeral joint, joint, joints, articular surfaces,
    cervical spine, thoracic spine, lumbar spine, spinal canal, neural foramina, foramina,
    facet joints, pedicles, spinous processes, vertebral bodies, intervertebral disc,
    intervertebral discs, spinal cord, cord, conus, thecal sac, cisterns, basal cisterns,
    gray-white differentiation, gray-white matter differentiation, midline structures, calvarium,
    mastoid air cells, paranasal sinuses, orbits, pituitary, corpus callosum, brainstem, pons,
    cerebral hemispheres, brain parenchyma, parenchyma, hepatic, splenic, renal, adrenal glands,
    pancreatic duct, common bile duct, biliary tree, intrahepatic ducts, portal vein, ivc,
    mesentery, retroperitoneum, bowel loops, rectum, sigmoid colon, cecum, duodenum, ileum,
    jejunum, seminal vesicles, ovaries, adnexa, endometrium, fibroglandular tissue, axilla,
    axillary, nipple, skin, retroareolar, carotid, carotid arteries, vertebral arteries,
    aortic arch, coronary arteries, thyroid gland, salivary glands, lymph node stations
    """
)
MODALITY = _terms(
    """
    x-ray, x-rays, xray, cxr, radiograph, radiographs, chest film, film, ct, ct scan,
    computed tomography, mri, mr image, magnetic resonance, ultrasound, sonogram, sonography,
    mammogram, angiogram, fluoroscopy, pet, pet-ct, histology, histological section, micrograph,
    photomicrograph, h&e, h&e stain, biopsy slide, axial, coronal, sagittal, pa, ap, lat,
    pa view, ap view, lateral view, frontal view, frontal, upright, supine, portable, t1-weighted,
    t2-weighted, flair, contrast-enhanced, plane, planes, view, views, panel, panels,
    imaging modality, projection, projections, posteroanterior, anteroposterior, pa projection,
    ap projection, t1, t2, stir, proton density, fat suppressed, fat saturated, fat-saturated,
    fat-suppressed, dwi, adc, mip, mammography, ultrasonography, angiography, spect, pet/ct,
    reconstruction, sequence, sequences, tomography, radiography
    """
)
NOMINAL_STUDY_WORDS = _terms(
    """
    a, an, the, of, and, with, in, image, images, slice, slices, scan, scans, section, sections,
    study, exam, examination, one, two, three, single, chest, frontal, oblique, view, views,
    normal, negative, unremarkable, stable, limited, only, both
    """
)
"""Besides modality, anatomy and location words, what a verbless sentence naming the study may
contain ("Axial CT image of the abdomen.") and still be a claim about it."""

STRONG_CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("finding", FINDINGS),
    ("device", DEVICES),
    ("density", DENSITY),
    ("size_shape", SIZE_SHAPE),
    ("appearance", APPEARANCE),
)
WEAK_CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("finding", WEAK_FINDINGS),
    ("device", WEAK_DEVICES),
    ("density", WEAK_DENSITY),
    ("size_shape", WEAK_SIZE_SHAPE),
    ("appearance", WEAK_APPEARANCE),
    ("location", LOCATION),
)
CATEGORY_ORDER: tuple[str, ...] = (
    "finding",
    "device",
    "density",
    "size_shape",
    "appearance",
    "location",
    "anatomy",
    "modality",
)
"""A sentence's category is that of its highest-priority unmodified target."""
