package io.moeprune.report;

/** Next-token quality on a set of documents: mean loss (nats), perplexity and accuracy over predicted tokens. */
public record Quality(double loss, double accuracy, long predicted) {
    public double perplexity() {
        return Math.exp(loss);
    }
}
