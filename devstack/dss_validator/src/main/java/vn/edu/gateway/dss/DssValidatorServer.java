package vn.edu.gateway.dss;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import eu.europa.esig.dss.diagnostic.AbstractSignatureWrapper;
import eu.europa.esig.dss.diagnostic.DiagnosticData;
import eu.europa.esig.dss.diagnostic.PDFRevisionWrapper;
import eu.europa.esig.dss.diagnostic.SignatureWrapper;
import eu.europa.esig.dss.diagnostic.TimestampWrapper;
import eu.europa.esig.dss.diagnostic.jaxb.XmlObjectModification;
import eu.europa.esig.dss.model.InMemoryDocument;
import eu.europa.esig.dss.model.x509.CertificateToken;
import eu.europa.esig.dss.pades.validation.PDFDocumentValidator;
import eu.europa.esig.dss.pdf.modifications.DefaultPdfDifferencesFinder;
import eu.europa.esig.dss.pdf.pdfbox.PdfBoxDefaultObjectFactory;
import eu.europa.esig.dss.service.crl.OnlineCRLSource;
import eu.europa.esig.dss.service.http.commons.CommonsDataLoader;
import eu.europa.esig.dss.service.http.commons.OCSPDataLoader;
import eu.europa.esig.dss.service.ocsp.OnlineOCSPSource;
import eu.europa.esig.dss.simplereport.SimpleReport;
import eu.europa.esig.dss.simplereport.jaxb.XmlDetails;
import eu.europa.esig.dss.simplereport.jaxb.XmlMessage;
import eu.europa.esig.dss.simplereport.jaxb.XmlSignature;
import eu.europa.esig.dss.simplereport.jaxb.XmlTimestamp;
import eu.europa.esig.dss.simplereport.jaxb.XmlToken;
import eu.europa.esig.dss.spi.validation.CommonCertificateVerifier;
import eu.europa.esig.dss.spi.x509.CommonTrustedCertificateSource;
import eu.europa.esig.dss.spi.x509.aia.DefaultAIASource;
import eu.europa.esig.dss.validation.reports.Reports;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.math.BigInteger;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.stream.Stream;

/**
 * The EU DSS validator behind a tiny loopback HTTP API, as an independent second opinion on the
 * gateway's PAdES signatures in the tests.
 *
 * <p>{@code POST /validate} takes a PDF as the body and answers JSON: per signature and per
 * document timestamp, DSS's indication, sub-indication, the signature format it determined, the
 * errors, warnings and infos of its simple report (message keys kept as DSS writes them) and what
 * its PDF modification detection found. {@code GET /health} answers 200 once the trust anchors are
 * loaded. Validation uses DSS's default policy (dss-policy-jaxb's {@code policy/constraint.xml}),
 * the PEM certificates of one folder as the only trust anchors, and fetches OCSP responses, CRLs
 * and missing CA certificates online (AIA), without a proxy.
 *
 * <p>This is a test and development tool: it listens on 127.0.0.1 only and must never serve
 * anything else than the tests' own documents.
 */
public final class DssValidatorServer {

    /** Larger bodies are refused (413): the tests' documents are a few hundred kilobytes. */
    private static final int DEFAULT_MAX_BYTES = 64 * 1024 * 1024;

    private final CommonCertificateVerifier verifier;
    private final int trustAnchors;
    private final int maxBytes;
    /** Pages DSS renders to compare the signed revision with the final one; null: DSS's default. */
    private final Integer visualComparisonPages;

    private DssValidatorServer(CommonCertificateVerifier verifier, int trustAnchors, int maxBytes,
                               Integer visualComparisonPages) {
        this.verifier = verifier;
        this.trustAnchors = trustAnchors;
        this.maxBytes = maxBytes;
        this.visualComparisonPages = visualComparisonPages;
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> options = parseArguments(args);
        int port = Integer.parseInt(required(options, "port"));
        Path trust = Path.of(required(options, "trust"));
        int threads = Integer.parseInt(options.getOrDefault("threads", "2"));
        int maxBytes = Integer.parseInt(options.getOrDefault("max-bytes", String.valueOf(DEFAULT_MAX_BYTES)));
        Integer visualComparisonPages = options.containsKey("visual-comparison-pages")
                ? Integer.valueOf(options.get("visual-comparison-pages")) : null;

        List<X509Certificate> anchors = loadTrustAnchors(trust);
        if (anchors.isEmpty()) {
            throw new IllegalArgumentException("no PEM certificate in " + trust + ": nothing to trust");
        }
        DssValidatorServer service = new DssValidatorServer(
                certificateVerifier(anchors), anchors.size(), maxBytes, visualComparisonPages);

        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 16);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        server.setExecutor(pool);
        server.createContext("/health", service::health);
        server.createContext("/validate", service::validate);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.stop(1);
            pool.shutdown();
        }));
        server.start();
        System.out.printf("DSS validator on http://127.0.0.1:%d (%d trust anchor(s) from %s, %d thread(s))%n",
                port, anchors.size(), trust, threads);
    }

    private static Map<String, String> parseArguments(String[] args) {
        Map<String, String> options = new LinkedHashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                throw new IllegalArgumentException(
                        "usage: --port N --trust FOLDER_OF_PEM_ROOTS [--threads N] [--max-bytes N]"
                                + " [--visual-comparison-pages N]");
            }
            options.put(args[i].substring(2), args[++i]);
        }
        return options;
    }

    private static String required(Map<String, String> options, String name) {
        String value = options.get(name);
        if (value == null) {
            throw new IllegalArgumentException("--" + name + " is required");
        }
        return value;
    }

    /** Every certificate of every {@code *.pem}, {@code *.crt} or {@code *.cer} file in the folder. */
    static List<X509Certificate> loadTrustAnchors(Path folder) throws IOException, CertificateException {
        CertificateFactory factory = CertificateFactory.getInstance("X.509");
        List<X509Certificate> anchors = new ArrayList<>();
        try (Stream<Path> files = Files.list(folder)) {
            for (Path file : files.sorted().toList()) {
                String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
                if (!(name.endsWith(".pem") || name.endsWith(".crt") || name.endsWith(".cer"))) {
                    continue;
                }
                try (InputStream in = Files.newInputStream(file)) {
                    for (var certificate : factory.generateCertificates(in)) {
                        anchors.add((X509Certificate) certificate);
                    }
                }
            }
        }
        return anchors;
    }

    /** One verifier for every validation: trust anchors, online OCSP/CRL/AIA, no proxy. */
    static CommonCertificateVerifier certificateVerifier(List<X509Certificate> anchors) {
        CommonTrustedCertificateSource trusted = new CommonTrustedCertificateSource();
        for (X509Certificate anchor : anchors) {
            trusted.addCertificate(new CertificateToken(anchor));
        }
        CommonCertificateVerifier verifier = new CommonCertificateVerifier();
        verifier.setTrustedCertSources(trusted);

        OCSPDataLoader ocspLoader = new OCSPDataLoader();
        configure(ocspLoader);
        verifier.setOcspSource(new OnlineOCSPSource(ocspLoader));

        CommonsDataLoader loader = new CommonsDataLoader();
        configure(loader);
        verifier.setCrlSource(new OnlineCRLSource(loader));
        verifier.setAIASource(new DefaultAIASource(loader));
        return verifier;
    }

    private static void configure(CommonsDataLoader loader) {
        // The test PKI answers on loopback: a responder that does not answer in seconds is a failure.
        loader.setTimeoutConnection(5_000);
        loader.setTimeoutConnectionRequest(5_000);
        loader.setTimeoutResponse(20_000);
        loader.setTimeoutSocket(20_000);
        loader.setProxyConfig(null);
    }

    // -- HTTP -----------------------------------------------------------------------------------

    private void health(HttpExchange exchange) throws IOException {
        try (exchange) {
            if (!"GET".equals(exchange.getRequestMethod())) {
                send(exchange, 405, Map.of("error", "GET only"));
                return;
            }
            Map<String, Object> body = new LinkedHashMap<>();
            body.put("status", "ready");
            body.put("trustAnchors", trustAnchors);
        body.put("visualComparisonPages", visualComparisonPages);
            send(exchange, 200, body);
        }
    }

    private void validate(HttpExchange exchange) throws IOException {
        try (exchange) {
            if (!"POST".equals(exchange.getRequestMethod())) {
                send(exchange, 405, Map.of("error", "POST a PDF to /validate"));
                return;
            }
            byte[] body = readBody(exchange.getRequestBody(), maxBytes);
            if (body == null) {
                send(exchange, 413, Map.of("error", "the document is larger than " + maxBytes + " bytes"));
                return;
            }
            String query = exchange.getRequestURI().getQuery();
            boolean withXml = query != null && List.of(query.split("&")).contains("xml=true");
            Map<String, Object> answer;
            try {
                answer = validate(body, withXml);
            } catch (RuntimeException e) {
                // DSS refuses what it cannot parse with runtime exceptions: that is its verdict on the bytes.
                Map<String, Object> error = new LinkedHashMap<>();
                error.put("error", "DSS could not validate the document");
                error.put("exception", e.getClass().getName());
                error.put("message", String.valueOf(e.getMessage()));
                send(exchange, 422, error);
                return;
            }
            send(exchange, 200, answer);
        }
    }

    private static byte[] readBody(InputStream in, int limit) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buffer = new byte[64 * 1024];
        int read;
        while ((read = in.read(buffer)) != -1) {
            if (out.size() + read > limit) {
                return null;
            }
            out.write(buffer, 0, read);
        }
        return out.toByteArray();
    }

    private static void send(HttpExchange exchange, int status, Map<String, ?> body) throws IOException {
        byte[] bytes = Json.write(body).getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "application/json; charset=utf-8");
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    // -- validation -----------------------------------------------------------------------------

    private Map<String, Object> validate(byte[] pdf, boolean withXml) {
        PDFDocumentValidator validator = new PDFDocumentValidator(new InMemoryDocument(pdf, "document.pdf"));
        validator.setCertificateVerifier(verifier);
        validator.setEnableEtsiValidationReport(false); // not used here; spares its cost
        validator.setLocale(Locale.ENGLISH);
        if (visualComparisonPages != null) {
            // Rendering pages for the visual comparison is most of DSS's time on a clean document.
            DefaultPdfDifferencesFinder differences = new DefaultPdfDifferencesFinder();
            differences.setMaximalPagesAmountForVisualComparison(visualComparisonPages);
            PdfBoxDefaultObjectFactory factory = new PdfBoxDefaultObjectFactory();
            factory.setPdfDifferencesFinder(differences);
            validator.setPdfObjFactory(factory);
        }
        Reports reports = validator.validateDocument(); // DSS's default policy
        SimpleReport simple = reports.getSimpleReport();
        DiagnosticData diagnostic = reports.getDiagnosticData();

        List<Object> signatures = new ArrayList<>();
        List<Object> timestamps = new ArrayList<>();
        for (XmlToken token : simple.getJaxbModel().getSignatureOrTimestampOrEvidenceRecord()) {
            if (token instanceof XmlSignature signature) {
                signatures.add(signature(signature, diagnostic));
            } else if (token instanceof XmlTimestamp timestamp) {
                timestamps.add(timestamp(timestamp, diagnostic));
            }
        }
        Map<String, Object> answer = new LinkedHashMap<>();
        answer.put("validationTime", instant(simple.getValidationTime()));
        answer.put("validationPolicy", simple.getJaxbModel().getValidationPolicy() == null
                ? null : simple.getJaxbModel().getValidationPolicy().getPolicyName());
        answer.put("signaturesCount", simple.getSignaturesCount());
        answer.put("validSignaturesCount", simple.getValidSignaturesCount());
        answer.put("timestampsCount", diagnostic.getTimestampList().size());
        answer.put("documentTimestampsCount", diagnostic.getTimestampList().stream()
                .filter(t -> t.getType() != null && t.getType().isDocumentTimestamp())
                .count());
        answer.put("signatures", signatures);
        answer.put("timestamps", timestamps);
        if (withXml) {
            answer.put("simpleReportXml", reports.getXmlSimpleReport());
            answer.put("detailedReportXml", reports.getXmlDetailedReport());
            answer.put("diagnosticDataXml", reports.getXmlDiagnosticData());
        }
        return answer;
    }

    private static Map<String, Object> signature(XmlSignature token, DiagnosticData diagnostic) {
        Map<String, Object> json = tokenCommon(token);
        SignatureWrapper wrapper = diagnostic.getSignatureById(token.getId());
        json.put("signatureFormat", token.getSignatureFormat() == null ? null : token.getSignatureFormat().toString());
        json.put("signingTime", instant(token.getSigningTime()));
        json.put("bestSignatureTime", instant(token.getBestSignatureTime()));
        json.put("signedBy", token.getSignedBy());
        if (wrapper != null) {
            json.put("fieldName", wrapper.getFirstFieldName());
            json.put("intact", wrapper.isSignatureIntact());
            json.put("cryptographicallyValid", wrapper.isSignatureValid());
            json.put("pdf", pdfRevision(wrapper));
        }
        List<Object> timestamps = new ArrayList<>();
        if (token.getTimestamps() != null) {
            for (XmlTimestamp timestamp : token.getTimestamps().getTimestamp()) {
                timestamps.add(timestamp(timestamp, diagnostic));
            }
        }
        json.put("timestamps", timestamps);
        return json;
    }

    private static Map<String, Object> timestamp(XmlTimestamp token, DiagnosticData diagnostic) {
        Map<String, Object> json = tokenCommon(token);
        TimestampWrapper wrapper = diagnostic.getTimestampById(token.getId());
        json.put("productionTime", instant(token.getProductionTime()));
        json.put("producedBy", token.getProducedBy());
        if (wrapper != null) {
            json.put("type", wrapper.getType() == null ? null : wrapper.getType().name());
            json.put("archiveTimestampType",
                    wrapper.getArchiveTimestampType() == null ? null : wrapper.getArchiveTimestampType().name());
            json.put("fieldName", wrapper.getPDFRevision() == null ? null : wrapper.getFirstFieldName());
            json.put("intact", wrapper.isSignatureIntact());
            json.put("cryptographicallyValid", wrapper.isSignatureValid());
            json.put("messageImprintIntact", wrapper.isMessageImprintDataIntact());
            if (wrapper.getPDFRevision() != null) {
                json.put("pdf", pdfRevision(wrapper));
            }
        }
        return json;
    }

    private static Map<String, Object> tokenCommon(XmlToken token) {
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("id", token.getId());
        json.put("indication", token.getIndication() == null ? null : token.getIndication().name());
        json.put("subIndication", token.getSubIndication() == null ? null : token.getSubIndication().name());
        XmlDetails details = token.getAdESValidationDetails();
        json.put("errors", messages(details == null ? null : details.getError()));
        json.put("warnings", messages(details == null ? null : details.getWarning()));
        json.put("infos", messages(details == null ? null : details.getInfo()));
        XmlDetails qualification = token.getQualificationDetails();
        Map<String, Object> qualificationJson = new LinkedHashMap<>();
        qualificationJson.put("errors", messages(qualification == null ? null : qualification.getError()));
        qualificationJson.put("warnings", messages(qualification == null ? null : qualification.getWarning()));
        qualificationJson.put("infos", messages(qualification == null ? null : qualification.getInfo()));
        json.put("qualification", qualificationJson);
        return json;
    }

    private static List<Object> messages(List<XmlMessage> messages) {
        List<Object> json = new ArrayList<>();
        if (messages != null) {
            for (XmlMessage message : messages) {
                Map<String, Object> entry = new LinkedHashMap<>();
                entry.put("key", message.getKey());
                entry.put("text", message.getValue());
                json.add(entry);
            }
        }
        return json;
    }

    /** What DSS's PDF modification detection found for the revision this token signed. */
    private static Map<String, Object> pdfRevision(AbstractSignatureWrapper wrapper) {
        PDFRevisionWrapper revision = wrapper.getPDFRevision();
        Map<String, Object> json = new LinkedHashMap<>();
        if (revision == null) {
            return json;
        }
        json.put("fieldNames", revision.getSignatureFieldNames());
        json.put("subFilter", revision.getSubFilter());
        json.put("byteRange", numbers(revision.getSignatureByteRange()));
        json.put("byteRangeValid", revision.isSignatureByteRangeValid());
        json.put("signatureDictionaryConsistent", revision.isPdfSignatureDictionaryConsistent());
        json.put("docMdpPermissions",
                revision.getDocMDPPermissions() == null ? null : revision.getDocMDPPermissions().name());
        json.put("modificationsDetected", revision.arePdfModificationsDetected());
        json.put("annotationsOverlapPages", numbers(revision.getPdfAnnotationsOverlapConcernedPages()));
        json.put("visualDifferencePages", numbers(revision.getPdfVisualDifferenceConcernedPages()));
        json.put("pageDifferencePages", numbers(revision.getPdfPageDifferenceConcernedPages()));
        json.put("objectModificationsDetected", revision.arePdfObjectModificationsDetected());
        json.put("extensionChanges", modifications(revision.getPdfExtensionChanges()));
        json.put("signatureOrFormFillChanges", modifications(revision.getPdfSignatureOrFormFillChanges()));
        json.put("annotationChanges", modifications(revision.getPdfAnnotationChanges()));
        json.put("undefinedChanges", modifications(revision.getPdfUndefinedChanges()));
        json.put("modifiedFieldNames", revision.getModifiedFieldNames());
        return json;
    }

    private static List<Object> modifications(List<XmlObjectModification> modifications) {
        List<Object> json = new ArrayList<>();
        if (modifications != null) {
            for (XmlObjectModification modification : modifications) {
                Map<String, Object> entry = new LinkedHashMap<>();
                entry.put("action", modification.getAction() == null ? null : modification.getAction().name());
                entry.put("fieldName", modification.getFieldName());
                entry.put("type", modification.getType());
                entry.put("value", modification.getValue());
                json.add(entry);
            }
        }
        return json;
    }

    private static List<Object> numbers(List<BigInteger> numbers) {
        List<Object> json = new ArrayList<>();
        if (numbers != null) {
            json.addAll(numbers);
        }
        return json;
    }

    private static String instant(Date date) {
        return date == null ? null : date.toInstant().toString();
    }
}
