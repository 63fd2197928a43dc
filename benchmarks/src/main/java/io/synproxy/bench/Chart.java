package io.synproxy.bench;

import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;

/**
 * The classic HdrHistogram percentile-distribution plot, drawn with Java2D (headless, no dependency):
 * x is the percentile on a log scale of 1 / (1 - p), y the latency in ms on a log scale; one line per
 * series.
 */
final class Chart {
    record Series(String name, Histogram histogram) {
    }

    private static final Color[] COLORS = {
        new Color(0xd62728), new Color(0xff7f0e), new Color(0x2ca02c), new Color(0x1f77b4),
        new Color(0x9467bd), new Color(0x8c564b), new Color(0xe377c2), new Color(0x7f7f7f),
    };
    private static final int W = 1100;
    private static final int H = 650;
    private static final int LEFT = 80;
    private static final int RIGHT = 250;
    private static final int TOP = 50;
    private static final int BOTTOM = 60;
    /** x runs up to 99.999%. */
    private static final double MAX_X = 5;

    private Chart() {
    }

    static void write(Path png, String title, List<Series> series) throws IOException {
        System.setProperty("java.awt.headless", "true");
        BufferedImage img = new BufferedImage(W, H, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, W, H);
            double minMs = Double.MAX_VALUE;
            double maxMs = 0;
            for (Series s : series) {
                if (s.histogram().getTotalCount() > 0) {
                    minMs = Math.min(minMs, Math.max(0.001, s.histogram().getMinNonZeroValue() / 1000.0));
                    maxMs = Math.max(maxMs, s.histogram().getMaxValue() / 1000.0);
                }
            }
            if (maxMs == 0) {
                minMs = 0.1;
                maxMs = 1;
            }
            double yLo = Math.floor(Math.log10(minMs));
            double yHi = Math.max(yLo + 1, Math.ceil(Math.log10(maxMs)));
            int pw = W - LEFT - RIGHT;
            int ph = H - TOP - BOTTOM;

            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 16));
            g.setColor(Color.BLACK);
            g.drawString(title, LEFT, 30);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
            // Grid and axes.
            String[] xLabels = {"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"};
            for (int i = 0; i <= MAX_X; i++) {
                int x = LEFT + (int) (pw * i / MAX_X);
                g.setColor(new Color(0xdddddd));
                g.drawLine(x, TOP, x, TOP + ph);
                g.setColor(Color.DARK_GRAY);
                g.drawString(xLabels[i], x - 15, TOP + ph + 18);
            }
            for (double e = yLo; e <= yHi; e++) {
                int y = TOP + ph - (int) (ph * (e - yLo) / (yHi - yLo));
                g.setColor(new Color(0xdddddd));
                g.drawLine(LEFT, y, LEFT + pw, y);
                g.setColor(Color.DARK_GRAY);
                double v = Math.pow(10, e);
                String label = v >= 1 ? String.format(Locale.ROOT, "%.0f", v) : String.format(Locale.ROOT, "%s", v);
                g.drawString(label, LEFT - 8 - g.getFontMetrics().stringWidth(label), y + 4);
            }
            g.setColor(Color.BLACK);
            g.drawRect(LEFT, TOP, pw, ph);
            g.drawString("percentile", LEFT + pw / 2 - 30, H - 20);
            Graphics2D gy = (Graphics2D) g.create();
            gy.rotate(-Math.PI / 2);
            gy.drawString("latency (ms, log scale)", -(TOP + ph / 2 + 60), 25);
            gy.dispose();

            int legendY = TOP + 10;
            for (int k = 0; k < series.size(); k++) {
                Series s = series.get(k);
                Color c = COLORS[k % COLORS.length];
                g.setColor(c);
                g.setStroke(new BasicStroke(2.2f));
                Histogram h = s.histogram();
                if (h.getTotalCount() > 0) {
                    Path2D.Double path = new Path2D.Double();
                    boolean first = true;
                    for (HistogramIterationValue v : h.percentiles(5)) {
                        double p = v.getPercentileLevelIteratedTo() / 100.0;
                        double xv = p >= 1 ? MAX_X : Math.min(MAX_X, Math.log10(1 / (1 - p)));
                        double ms = Math.max(Math.pow(10, yLo), h.highestEquivalentValue(v.getValueIteratedTo()) / 1000.0);
                        double x = LEFT + pw * xv / MAX_X;
                        double y = TOP + ph - ph * (Math.log10(ms) - yLo) / (yHi - yLo);
                        if (first) {
                            path.moveTo(x, y);
                            first = false;
                        } else {
                            path.lineTo(x, y);
                        }
                    }
                    g.draw(path);
                }
                g.fillRect(LEFT + pw + 15, legendY - 9, 18, 10);
                g.setColor(Color.BLACK);
                g.drawString(s.name(), LEFT + pw + 40, legendY);
                legendY += 20;
            }
        } finally {
            g.dispose();
        }
        ImageIO.write(img, "png", png.toFile());
    }
}
