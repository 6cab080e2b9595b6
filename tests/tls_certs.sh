#!/bin/sh
# tls_certs.sh DIR - make the certificates the TLS tests use, in DIR (never
# committed: private keys are generated here, at test time).  ECDSA P-256.
#   ca.pem            a CA; other-ca.pem another one
#   a.pem / a.key     server certificate for a.test and localhost, from ca
#   b.pem / b.key     server certificate for b.test and *.wild.test, from ca
#   a2.pem / a2.key   a renewed a.test certificate (another key, serial)
#   client.pem/.key   client certificate CN=client, from ca
#   rogue.pem/.key    client certificate CN=rogue, from other-ca
#   old.pem           an expired certificate for the key a.key
#   enc.key           a.key encrypted with a passphrase
#   garbage.pem       not PEM
# Exits non-zero (with openssl's words) on failure.
set -eu
d=${1:?usage: tls_certs.sh DIR}
mkdir -p "$d"
cd "$d"
umask 077
ec="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"

ca() {  # name subject
    openssl req -x509 $ec -keyout "$1.key" -out "$1.pem" -subj "$2" -days 2 \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign \
        2>/dev/null
}
leaf() {  # name subject ca san-or-none days
    openssl req -new $ec -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    if [ "$4" = none ]; then
        printf 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n' > "$1.ext"
    else
        printf 'basicConstraints=CA:FALSE\nsubjectAltName=%s\n' "$4" > "$1.ext"
    fi
    openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial \
        -days "$5" -extfile "$1.ext" -out "$1.pem" 2>/dev/null
    rm -f "$1.csr" "$1.ext"
}

ca ca /CN=superd-test-ca
ca other-ca /CN=superd-other-ca
leaf a /CN=a.test ca DNS:a.test,DNS:localhost,IP:127.0.0.1 2
leaf b /CN=b.test ca DNS:b.test,DNS:*.wild.test 2
leaf a2 /CN=a.test ca DNS:a.test,DNS:localhost,IP:127.0.0.1 2
leaf client /CN=client/O=superd-tests ca none 2
leaf rogue /CN=rogue other-ca none 2
openssl req -new -key a.key -subj /CN=a.test -out old.csr 2>/dev/null
openssl x509 -req -in old.csr -signkey a.key -days -1 -out old.pem 2>/dev/null
rm -f old.csr
openssl pkey -in a.key -aes256 -passout pass:secret -out enc.key 2>/dev/null
echo "this is not a certificate" > garbage.pem
