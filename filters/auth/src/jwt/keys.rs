//! JSON Web Keys and JWS signature verification (being written).
