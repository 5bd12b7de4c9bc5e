package io.moeprune.report;

import io.moeprune.select.Method;

import java.util.List;
import java.util.Map;

/**
 * Everything a study measured.
 *
 * @param domains     domain names in order
 * @param numExperts  routed experts per layer of the model
 * @param full        domain -> quality of the full model on the domain's held-out text
 * @param inDomain    domain -> method -> experts kept -> quality of that domain's mask on its own held-out text
 * @param outOfDomain mask domain -> evaluated domain -> experts kept -> quality (oodMethod masks)
 * @param importance  domain -> normalised easyep importance [moe layer][expert]
 * @param evalTokens  domain -> predicted tokens evaluated
 * @param demoTokens  domain -> demonstration tokens
 * @param oodKept     domain -> experts kept -> kept expert ids [moe layer][] of that domain's oodMethod mask
 *                    (what `report` prunes into real checkpoints)
 */
public record StudyResult(List<String> domains, int numExperts, Map<String, Quality> full,
                          Map<String, Map<Method, Map<Integer, Quality>>> inDomain,
                          Map<String, Map<String, Map<Integer, Quality>>> outOfDomain,
                          Map<String, double[][]> importance, Map<String, Long> evalTokens, Map<String, Long> demoTokens,
                          Method oodMethod, List<Integer> keeps, List<Method> methods,
                          Map<String, Map<Integer, int[][]>> oodKept, double seconds) {
}
