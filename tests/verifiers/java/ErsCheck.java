// Checks an RFC 4998 evidence record with Bouncy Castle (org.bouncycastle.tsp.ers), for
// tests/verifiers/test_ers_bouncycastle.py:
//
//   java -cp bcprov.jar:bcpkix.jar:bcutil.jar ErsCheck.java record.ers data-object...
//
// 1. Bouncy Castle parses the record (ERSEvidenceRecord).
// 2. Each data object is present in the newest chain: ERSEvidenceRecord.validatePresent
//    hashes it itself, with H(h(d) || h(ATSSeq)) after a hash-tree renewal, finds it in the
//    first hash list and checks the reduced tree against the token's imprint.
// 3. ERSEvidenceRecord.validate: the newest token's signature, and that the newest archive
//    timestamp covers the earlier timestamps of its chain.
// 4. Every token's signature, with the signer certificate the token carries.
// Prints "OK <n> archive timestamps" and exits 0, or throws (non-zero exit).

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.Security;
import java.util.Date;

import org.bouncycastle.asn1.tsp.ArchiveTimeStamp;
import org.bouncycastle.asn1.tsp.ArchiveTimeStampChain;
import org.bouncycastle.asn1.tsp.EvidenceRecord;
import org.bouncycastle.cert.X509CertificateHolder;
import org.bouncycastle.cms.SignerInformationVerifier;
import org.bouncycastle.cms.jcajce.JcaSimpleSignerInfoVerifierBuilder;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.operator.DigestCalculatorProvider;
import org.bouncycastle.operator.jcajce.JcaDigestCalculatorProviderBuilder;
import org.bouncycastle.tsp.TimeStampToken;
import org.bouncycastle.tsp.ers.ERSByteData;
import org.bouncycastle.tsp.ers.ERSEvidenceRecord;

public class ErsCheck {
    private static SignerInformationVerifier verifier(X509CertificateHolder cert) throws Exception {
        return new JcaSimpleSignerInfoVerifierBuilder().setProvider("BC").build(cert);
    }

    @SuppressWarnings("unchecked")
    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            throw new IllegalArgumentException("usage: ErsCheck record.ers data-object...");
        }
        Security.addProvider(new BouncyCastleProvider());
        DigestCalculatorProvider digests =
            new JcaDigestCalculatorProviderBuilder().setProvider("BC").build();
        byte[] der = Files.readAllBytes(Path.of(args[0]));

        ERSEvidenceRecord record = new ERSEvidenceRecord(der, digests);  // (1)
        Date now = new Date();
        for (int i = 1; i < args.length; i++) {  // (2)
            record.validatePresent(new ERSByteData(Files.readAllBytes(Path.of(args[i]))), now);
        }
        record.validate(verifier(record.getSigningCertificate()));  // (3)

        int count = 0;  // (4)
        EvidenceRecord asn1 = EvidenceRecord.getInstance(der);
        for (ArchiveTimeStampChain chain : asn1.getArchiveTimeStampSequence().getArchiveTimeStampChains()) {
            for (ArchiveTimeStamp ats : chain.getArchiveTimestamps()) {
                TimeStampToken token = new TimeStampToken(ats.getTimeStamp());
                X509CertificateHolder cert = (X509CertificateHolder)
                    token.getCertificates().getMatches(token.getSID()).iterator().next();
                token.validate(verifier(cert));
                count++;
            }
        }
        System.out.println("OK " + count + " archive timestamps");
    }
}
